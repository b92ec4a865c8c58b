"""Test helpers shared by every tier: free ports, the emulator subprocess, signed webhook payloads."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_SECRET_KEY = "sk_test_emulator"
EMULATOR_PUBLISHABLE_KEY = "pk_test_emulator"
PRODUCTION_SECRET_KEY = "3f9c1e7a5b2d8046" * 4  # 64 characters, 16 distinct: what token_hex(32) looks like
METRICS_TOKEN = "metrics-token-for-tests"
WEBHOOK_SECRET = "whsec_test_" + "a" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class EmulatorProcess:
    """The real emulator, over HTTP, on its own ports."""

    def __init__(self, webhook_url: str | None = None, webhook_secret: str = WEBHOOK_SECRET, *extra: str,
                 nice: int = 0):
        self.port, self.control_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.control = f"http://127.0.0.1:{self.control_port}"
        args = [sys.executable, "-m", "stripe_emulator", "--port", str(self.port), "--control-port",
                str(self.control_port), "--secret-key", EMULATOR_SECRET_KEY, "--publishable-key",
                EMULATOR_PUBLISHABLE_KEY, "--retry-compression", "1000", "--webhook-timeout", "5", *extra]
        if webhook_url:
            args += ["--webhook-url", webhook_url, "--webhook-secret", webhook_secret]
        self.process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        preexec_fn=(lambda: os.nice(nice)) if nice else None)
        wait_for_http(f"{self.control}/_emulator/faults")

    def ctl(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.control}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def reset(self) -> None:
        self.ctl("POST", "/_emulator/outage", {"down": False})
        self.ctl("POST", "/_emulator/reset")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event_payload(event_type: str, obj: dict, event_id: str | None = None, created: int | None = None) -> str:
    return json.dumps({
        "id": event_id or f"evt_test_{os.urandom(8).hex()}", "object": "event", "api_version": "2025-01-27",
        "created": created or int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type, "data": {"object": obj},
    })


def chromium_launch_args() -> dict:
    """Playwright's own Chromium where it was installed; Debian's otherwise (this workplace cannot download it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        bundled = Path(p.chromium.executable_path)
    if bundled.exists() or not Path("/usr/bin/chromium").exists():
        return {}
    args = ["--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    if os.geteuid() == 0:
        args.insert(0, "--no-sandbox")
    return {"executable_path": "/usr/bin/chromium", "args": args}
