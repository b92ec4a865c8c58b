"""The one way a test or a bench starts the emulator: `python -m stripe_emulator` on free ports, ready once it
prints its banner."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import requests

from .net import ROOT, free_port

EMULATOR_SECRET_KEY = "sk_test_emulator"
EMULATOR_PUBLISHABLE_KEY = "pk_test_emulator"
WEBHOOK_SECRET = "whsec_test_" + "a" * 32
# retries 1000 times sooner than Stripe's schedule, and a stalled shop is given up on after 5 s
SHOP_DEFAULTS = ("--retry-compression", "1000", "--webhook-timeout", "5")


class EmulatorProcess:
    """The real emulator, over HTTP, on its own ports. `extra` command-line options come after SHOP_DEFAULTS, so
    they override them; `nice` lowers its CPU priority."""

    def __init__(self, *extra: str, webhook_url: str | None = None, webhook_secret: str = WEBHOOK_SECRET,
                 nice: int = 0):
        self.port, self.control_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.control = f"http://127.0.0.1:{self.control_port}"
        args = [sys.executable, "-m", "stripe_emulator", "--port", str(self.port), "--control-port",
                str(self.control_port), "--secret-key", EMULATOR_SECRET_KEY, "--publishable-key",
                EMULATOR_PUBLISHABLE_KEY, *SHOP_DEFAULTS, *extra]
        if webhook_url:
            args += ["--webhook-url", webhook_url, "--webhook-secret", webhook_secret]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                                        preexec_fn=(lambda: os.nice(nice)) if nice else None)
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {line}{self.process.stdout.read()}")
        self.banner = line.strip()
        threading.Thread(target=self.process.stdout.read, daemon=True).start()  # a full pipe would stall it

    def ctl(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        """A call to the control API; an error status raises requests.HTTPError."""
        response = requests.request(method, self.control + path, json=body, params=params, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def requests_log(self, path: str | None = None) -> list:
        return self.ctl("GET", "/_emulator/requests", params={"path": path} if path else None)["data"]

    def reset(self) -> None:
        """No outage, no faults, no objects, nothing logged."""
        self.ctl("POST", "/_emulator/outage", {"down": False})
        self.ctl("POST", "/_emulator/reset")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
