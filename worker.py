"""Start an RQ worker (with RQ's scheduler, for retries) on the shop's queues, plus the periodic jobs.

    python worker.py                  # events, mail and maintenance queues; relay/reconcile/expiry/pruning scheduled
    python worker.py --no-cron        # an extra worker: leave the periodic jobs to one process

If Redis goes away the worker waits and reconnects instead of exiting; events stored meanwhile are put back
on the queues by the relay. If the worker is killed outright, the processes it forked end with it and the relay
re-enqueues the job it held (app/queues/relay.py `jobs_alive`).
"""
from __future__ import annotations

import argparse
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker
from rq.cron import CronScheduler
from rq.utils import now

from app import create_app
from app.tasks import bind_app
from app.queues import MAINTENANCE, QUEUES, redis_connection

log = logging.getLogger("worker")
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
HEARTBEAT_EVERY = 1.0  # seconds
# RQ's maintenance (10 min by default) is also when a worker takes over the scheduler lock of a dead one: until
# then no retry comes due. The relay recovers such jobs too, but a shorter interval keeps RQ's own path quick.
MAINTENANCE_EVERY = 60  # seconds
PR_SET_PDEATHSIG = 1  # prctl(2)


class ThrottledHeartbeat:
    """RQ sends a standalone heartbeat (three Redis round trips) several times per job; at a hundred jobs a
    second that is most of a worker's Redis traffic. One a second is plenty for a worker key that lives
    `worker_ttl` (420 s). Heartbeats that ride in RQ's own pipelines are sent as RQ sends them."""

    def heartbeat(self, timeout=None, pipeline=None):
        if (pipeline is None and self.last_heartbeat is not None
                and (now() - self.last_heartbeat).total_seconds() < HEARTBEAT_EVERY):
            return
        super().heartbeat(timeout, pipeline)


class ShopWorker(ThrottledHeartbeat, SimpleWorker):
    """Jobs run in the worker process (fast; worker.py's default)."""


class ShopForkWorker(ThrottledHeartbeat, Worker):
    """Each job in a forked process (isolation; `--fork`)."""


def retry_while_redis_is_down(run) -> None:
    delay = 0.5
    while True:
        try:
            return run()
        except REDIS_DOWN as error:
            log.warning("redis unavailable (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5)


_forked_by = 0


def die_with_the_worker() -> None:
    """Linux: every process the worker forks (its cron process, RQ's scheduler, `--fork`'s job processes) gets
    SIGTERM when the worker dies, however it dies. A worker killed outright (SIGKILL, the OOM killer, a
    supervisor that signals only its main process) would otherwise leave them running beside the ones its
    replacement starts, one more set at every crash."""
    if not sys.platform.startswith("linux"):
        return

    def remember_parent():
        global _forked_by
        _forked_by = os.getpid()

    def ask_for_sigterm():
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != _forked_by:  # the parent died before the request took effect
            os._exit(0)

    os.register_at_fork(before=remember_parent, after_in_child=ask_for_sigterm)


def run_cron(redis_url: str, relay_every: int, reconcile_every: int) -> None:
    from app import tasks as jobs

    def start():
        scheduler = CronScheduler(connection=Redis.from_url(redis_url))
        scheduler.register(jobs.relay, MAINTENANCE, interval=relay_every, job_timeout=60)
        scheduler.register(jobs.reconcile, MAINTENANCE, interval=reconcile_every, job_timeout=120)
        scheduler.register(jobs.expire_orders, MAINTENANCE, interval=60, job_timeout=120)
        scheduler.register(jobs.expire_carts, MAINTENANCE, interval=3600, job_timeout=120)
        scheduler.register(jobs.prune_event_payloads, MAINTENANCE, interval=3600, job_timeout=600)
        scheduler.register(jobs.prune_csp_reports, MAINTENANCE, interval=3600, job_timeout=120)
        scheduler.start()

    retry_while_redis_is_down(start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", action="store_true", help="Stop when the queues are empty.")
    parser.add_argument("--no-cron", action="store_true", help="Do not run the periodic jobs in this process.")
    parser.add_argument("--fork", action="store_true",
                        help="Run each job in a forked process (isolation) instead of in the worker (speed).")
    args = parser.parse_args(argv)

    die_with_the_worker()
    app = create_app()
    bind_app(app)
    settings = app.config["SETTINGS"]
    cron = None
    if not args.no_cron and not args.burst:
        cron = multiprocessing.get_context("fork").Process(
            target=run_cron, args=(settings.redis_url, settings.relay_interval, settings.reconcile_interval),
            daemon=True)
        cron.start()

    def work():
        worker_class = ShopForkWorker if args.fork else ShopWorker
        worker = worker_class(list(QUEUES), connection=redis_connection(app), maintenance_interval=MAINTENANCE_EVERY)
        worker.work(with_scheduler=True, burst=args.burst, logging_level="WARNING")

    try:
        retry_while_redis_is_down(work)
    finally:
        if cron is not None and cron.is_alive():
            cron.terminate()
            cron.join(5)


if __name__ == "__main__":
    main()
