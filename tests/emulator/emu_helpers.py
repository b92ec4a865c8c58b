"""Helpers for the emulator tests: start the emulator as a subprocess, receive webhooks."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_emulator"
PUBLISHABLE_KEY = "pk_test_emulator"
WEBHOOK_SECRET = "whsec_test_emulator_secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """A running ``python -m stripe_emulator`` subprocess."""

    def __init__(self, *extra_args, webhook_url=None):
        self.port, self.control_port = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.control = f"http://127.0.0.1:{self.control_port}"
        args = [sys.executable, "-m", "stripe_emulator", "--port", str(self.port),
                "--control-port", str(self.control_port), "--secret-key", SECRET_KEY,
                "--publishable-key", PUBLISHABLE_KEY, *extra_args]
        if webhook_url:
            args += ["--webhook-url", webhook_url, "--webhook-secret", WEBHOOK_SECRET]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line}{self.proc.stdout.read()}")
        self.banner = line.strip()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def ctl(self, method, path, body=None, **kw):
        resp = requests.request(method, self.control + path, json=body, timeout=10, **kw)
        resp.raise_for_status()
        return resp.json()

    def requests_log(self, path=None):
        return self.ctl("GET", "/_emulator/requests", params={"path": path} if path else None)["data"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class WebhookReceiver:
    """Collects webhook POSTs; ``status`` decides what it answers."""

    def __init__(self):
        self.received = []
        self.status = 200
        self.delay = 0.0  # seconds to wait before answering
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.received.append({"body": body, "signature": self.headers.get("Stripe-Signature"),
                                              "time": time.time()})
                    status, delay = receiver.status, receiver.delay
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def clear(self):
        with self.lock:
            self.received.clear()
            self.status = 200

    def events(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.received]

    def wait_for(self, predicate, timeout=10.0):
        """Wait until some received event satisfies ``predicate``; return the matching events."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [e for e in self.events() if predicate(e)]
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no matching webhook within {timeout}s; got {[e['type'] for e in self.events()]}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()
