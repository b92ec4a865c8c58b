"""The emulator tier's names for the shared emulator launcher (tests/support/emulator.py), and a webhook
receiver."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.emulator import (EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY, WEBHOOK_SECRET,  # noqa: F401
                                    EmulatorProcess)
from tests.support.net import ROOT, free_port  # noqa: F401

SECRET_KEY, PUBLISHABLE_KEY = EMULATOR_SECRET_KEY, EMULATOR_PUBLISHABLE_KEY
Emulator = EmulatorProcess


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
