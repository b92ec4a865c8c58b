"""Free ports and waiting for a server to answer."""
from __future__ import annotations

import os
import random
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


_GIVEN: set[int] = set()
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_SLICE = 2800  # eight xdist workers' slices fit between 10000 and 32767


def free_port() -> int:
    """A port nothing listens on now and never handed out before in this process, from a slice of its own per
    xdist worker below the range Linux gives client sockets (32768 and up). A server is started some time after
    its port is chosen, so two servers of one test (a stack's gunicorn and its mail sink) or of two workers must
    never be given the same free port."""
    low = 10000 + _SLICE * (int(_WORKER[2:] or 0) % 8 if _WORKER.startswith("gw") else 0)
    for attempt in range(400):
        port = random.randrange(low, low + _SLICE)
        if port in _GIVEN and attempt < 300:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {low + _SLICE}")


def wait_for_http(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception as error:  # not up yet
            last = error
            time.sleep(0.05)
    raise RuntimeError(f"{url} not up after {timeout} s: {last}")
