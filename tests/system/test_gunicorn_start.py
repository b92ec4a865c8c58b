"""gunicorn.conf.py at start removes the metric files of this host's web processes that are gone. Two pools
sharing one metrics directory (docker-compose.yml's web and payments share the volume; so do the stacks of the
tests) start at the same moment and clean up the same files: neither may die of the other's removal."""
from __future__ import annotations

import socket
import subprocess
import sys

import requests

from tests.support.stack import Stack

HOST = socket.gethostname().replace("_", "-")


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_two_pools_sharing_a_metrics_directory_both_start(tmp_path):
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    gone = dead_pid()
    for n in range(20_000):  # a long cleanup, so the two masters' loops overlap
        (metrics / f"counter_{n}_{HOST}-{gone}.db").touch()
    stack = Stack(tmp_path, workers=0, payments_pool=True).start()  # raises if either master died at start
    try:
        assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
        assert requests.get(f"{stack.payments_url}/healthz", timeout=5).status_code == 200
        assert not list(metrics.glob(f"*-{gone}.db"))
    finally:
        stack.stop()
