"""gunicorn settings for the shop (`gunicorn "app:create_app()"` reads this file from the working directory).

Metrics: every process writes its counters to PROMETHEUS_MULTIPROC_DIR (app/telemetry/metrics.py names the files by host
and pid), /metrics in any worker sums them, and a worker that exits is marked dead so its live gauges go.
At start the files of this host's web processes that no longer exist are removed (a restart resets counters,
which Prometheus handles); RQ workers' files and other hosts' files sharing the directory are left alone.
"""
import contextlib
import glob
import os
import socket
import tempfile

# GUNICORN_POOL=payments: the pool for POST /checkout/confirm and the Stripe webhook, whose requests wait on
# Stripe. A waiting thread costs little (docs/operations.md, "The payments pool"), so it runs one thread per call
# the bulkhead admits plus a few for what never waits (webhooks, replayed answers): the bulkhead, not the thread
# count, decides how many checkouts a process holds, and one past it is answered at once.
POOL = os.environ.get("GUNICORN_POOL", "pages")
PAYMENTS_SPARE_THREADS = 16


def _threads() -> int:
    if os.environ.get("GUNICORN_THREADS"):
        return int(os.environ["GUNICORN_THREADS"])
    if POOL == "payments":
        from app.settings import Settings

        return Settings.from_env().stripe_max_concurrency + PAYMENTS_SPARE_THREADS
    return 4


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = _threads()
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then (a safety net, not a leak fix); the jitter keeps them from restarting together.
# Not too often: a restart re-imports the app (about a second of CPU), which a busy server feels.
max_requests = 100_000
max_requests_jitter = 10_000
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG") else None

# Must be set before any worker imports prometheus_client.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(tempfile.gettempdir(), "shop-prometheus"))
HOST = socket.gethostname().replace("_", "-")
# The most of a refused request's body the shop reads to keep its connection usable (app/web/limits.py DRAIN_MAX).
DRAIN_MAX = 1024 * 1024


def pre_request(worker, req):
    """A body the shop would not drain if it refused it (larger than DRAIN_MAX, or of unknown length) gets an
    answer with `Connection: close`: a proxy then never reuses a connection whose next request start is unknown.
    gunicorn ignores a Connection header set by the app, so this is decided here."""
    length = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), None)
    chunked = any(name == "TRANSFER-ENCODING" for name, _ in req.headers)
    if chunked or (length is not None and length.isdigit() and int(length) > DRAIN_MAX):
        req.must_close = True
    worker.log.debug("%s %s", req.method, req.path)


def on_starting(server):
    # One kept database connection per thread that may use one at once: with a smaller pool every request past it
    # opens and closes its own PostgreSQL connection, a new server process each time. In the pages pool that is
    # every thread (threads as run, --threads included); in the payments pool most threads wait on Stripe holding
    # none (app/db release_connection), so it keeps as many as its threads that never wait.
    pool = PAYMENTS_SPARE_THREADS if POOL == "payments" else server.cfg.threads
    os.environ.setdefault("DB_POOL_SIZE", str(pool))
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, f"*_{HOST}-*.db")):
        pid = path.rsplit("-", 1)[1].removesuffix(".db")
        if "-rq-" not in path and pid.isdigit() and not _alive(int(pid)):  # RQ workers' files stay
            with contextlib.suppress(FileNotFoundError):  # another pool starting beside this one removed it
                os.remove(path)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(f"{HOST}-{worker.pid}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
