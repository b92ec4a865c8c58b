"""worker.py's RQ worker against a real Redis: standalone heartbeats at most once a second, jobs unaffected; the
processes it forks end with it."""
import os
import signal
import subprocess
import sys
import time

import pytest
from rq import Queue

from tests.support.net import ROOT
from worker import HEARTBEAT_EVERY, ShopWorker


def test_standalone_heartbeats_are_throttled_and_pipelined_ones_are_not(redis):
    worker = ShopWorker(["events"], connection=redis)
    worker.register_birth()
    first = worker.last_heartbeat
    worker.heartbeat()
    assert worker.last_heartbeat == first  # skipped: the birth's heartbeat is less than a second old
    with redis.pipeline() as pipeline:
        worker.heartbeat(pipeline=pipeline)
        pipeline.execute()
    assert worker.last_heartbeat > first  # inside a pipeline: always sent
    sent = worker.last_heartbeat
    time.sleep(HEARTBEAT_EVERY + 0.1)
    worker.heartbeat()
    assert worker.last_heartbeat > sent
    assert redis.ttl(worker.key) > 60  # the worker key is kept alive


def test_a_throttled_worker_still_runs_every_job(redis):
    queue = Queue("events", connection=redis)
    jobs = [queue.enqueue("builtins.len", "x" * n) for n in range(30)]
    ShopWorker(["events"], connection=redis).work(burst=True)
    assert [job.return_value(refresh=True) for job in jobs] == list(range(30))


def _stat(pid) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (state, parent pid, ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> set[int]:
    return {int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and (fields := _stat(entry)) and int(fields[1]) == pid}


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if (fields := _stat(pid)) and fields[0] != "Z"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
def test_a_worker_killed_outright_takes_its_cron_and_scheduler_processes_with_it(redis_url, tmp_path):
    env = {**os.environ, "SHOP_ENV": "development", "SECRET_KEY": "w" * 40, "REDIS_URL": redis_url,
           "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.sqlite3'}", "STRIPE_SECRET_KEY": "sk_test_x",
           "STRIPE_PUBLISHABLE_KEY": "pk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    children = set()
    try:
        deadline = time.monotonic() + 30
        while len(children := _children(worker.pid)) < 2:  # the cron process and RQ's scheduler
            assert time.monotonic() < deadline, f"worker started {len(children)} of its 2 processes"
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)  # the worker alone, as the OOM killer would
        worker.wait()
        deadline = time.monotonic() + 10
        while _alive(children):
            assert time.monotonic() < deadline, f"left running after the worker died: {_alive(children)}"
            time.sleep(0.2)
    finally:
        for pid in _alive(children | _children(worker.pid)):  # whatever the test leaves behind
            os.kill(pid, signal.SIGKILL)
        worker.kill()
