"""What a user would pick instead of this shop, run in the same harness and the same run as the shop's figures:

- `bare`: a Flask app answering 200 with nothing else to do (the ceiling of Flask under gunicorn here);
- `samples_webhook`: the webhook of Stripe's samples (verify the signature on the raw body, nothing stored,
  nothing queued, answer 200);
- `samples_shop`: a shop shaped like Stripe's samples: a catalog page and POST /create-payment-intent, which
  creates the PaymentIntent inside the request, on gunicorn's sync workers.

`serve` starts one under gunicorn on a free port, with gunicorn's own defaults (anchors/gunicorn.conf.py), not
the shop's tuning.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.net import ROOT, free_port, wait_for_http

PLAIN_CONFIG = Path(__file__).with_name("gunicorn.conf.py")


class Anchor:
    """`app` is a gunicorn app path such as "bench.anchors.bare:app"; `threads` above 1 runs gthread workers."""

    def __init__(self, app: str, log_path: Path, workers: int = 2, threads: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", str(PLAIN_CONFIG), "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--threads", str(threads), app],
            env={**os.environ, **(env or {})}, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"{self.url}/healthz")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
