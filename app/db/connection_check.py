"""Before a pooled PostgreSQL connection is used, make sure the server has not closed it, mostly without asking.

SQLAlchemy's `pool_pre_ping` asks the server (SELECT 1) on every checkout: a round trip more per request, a
third of a webhook delivery's (ping, insert, commit). A live idle connection has nothing to read, while one the
server closed (a restart, pg_terminate_backend, an idle timeout, a failover) has the server's farewell or the end
of the stream waiting on its socket. So the socket is polled, which costs no round trip, and only a connection
with something to read is pinged; one that fails the ping is replaced before the request sees it. What neither
check can see is a peer that vanished without a word (a host gone, a dropped route): a ping would wait on it
just as the request's own query does.
"""
from __future__ import annotations

import select

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

__all__ = ["check_before_use"]


def check_before_use(engine: Engine) -> None:
    """Check each connection `engine`'s pool hands out (PostgreSQL only: a SQLite file has no server)."""
    if engine.dialect.name != "postgresql":
        return
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, _record, _proxy):
        if _quiet(dbapi_connection):
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool retries the checkout with a new connection
            raise DisconnectionError(f"connection failed its ping: {error}") from error
        if not alive:
            raise DisconnectionError("the server closed this connection")


def _quiet(dbapi_connection) -> bool:
    """True when the connection is open and the server has sent nothing since it was last used."""
    if dbapi_connection.closed or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return not poller.poll(0)
