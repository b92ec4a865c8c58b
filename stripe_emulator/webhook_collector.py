"""A local HTTP server, registered as a webhook endpoint, that keeps every event whose signature verifies."""

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from stripe_emulator.http_client import call
from stripe_emulator.signing import signature_header

TOLERANCE = 300  # seconds, as stripe-python's construct_event


def verify(payload: str, header: str, secret: str, tolerance=TOLERANCE) -> bool:
    """Stripe's check: a ``v1`` signature of ``t.payload`` under the secret, with a recent ``t``."""
    parts = [item.split("=", 1) for item in (header or "").split(",") if "=" in item]
    timestamps = [value for key, value in parts if key == "t"]
    signatures = [value for key, value in parts if key == "v1"]
    if not timestamps or not timestamps[0].isdigit() or abs(time.time() - int(timestamps[0])) > tolerance:
        return False
    expected = signature_header(payload, secret, int(timestamps[0])).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


class WebhookCollector:
    """``events`` holds verified events in arrival order; ``rejected`` counts deliveries that failed the check."""

    def __init__(self, host="127.0.0.1"):
        self.events: list[dict] = []
        self.rejected = 0
        self.secret = None
        self.endpoint_id = None
        self._registration = None
        self._changed = threading.Condition()
        self._registered = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}/webhooks"
        threading.Thread(target=self._server.serve_forever, name="webhook-collector", daemon=True).start()

    def _handler_class(self):
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                payload = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                ok = collector._receive(payload, self.headers.get("Stripe-Signature", ""))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def _receive(self, payload, header) -> bool:
        self._registered.wait(10)  # a delivery can race the answer that carries the secret
        verified = self.secret is not None and verify(payload, header, self.secret)
        with self._changed:
            if verified:
                self.events.append(json.loads(payload))
            else:
                self.rejected += 1
            self._changed.notify_all()
        return verified

    def register(self, api_base, api_key, enabled_events=("*",)):
        """Registers this collector as a webhook endpoint of the emulator (or of any Stripe-like API)."""
        endpoint = call("POST", api_base.rstrip("/") + "/v1/webhook_endpoints", api_key=api_key,
                        form={"url": self.url, "enabled_events": list(enabled_events)})
        self.endpoint_id, self.secret = endpoint["id"], endpoint["secret"]
        self._registration = (api_base.rstrip("/"), api_key)
        self._registered.set()
        return endpoint

    def unregister(self):
        if self._registration and self.endpoint_id:
            api_base, api_key = self._registration
            call("DELETE", f"{api_base}/v1/webhook_endpoints/{self.endpoint_id}", api_key=api_key)
            self.endpoint_id = None

    def of_type(self, event_type) -> list[dict]:
        with self._changed:
            return [event for event in self.events if event["type"] == event_type]

    def wait_for(self, event_type=None, predicate=None, timeout=10.0) -> dict:
        """The first event of that type (and/or matching ``predicate(event)``), waiting up to ``timeout`` s."""
        def match(event):
            return (event_type is None or event["type"] == event_type) and (predicate is None or predicate(event))

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((event for event in self.events if match(event)), None)
                remaining = deadline - time.monotonic()
                if found is not None or remaining <= 0:
                    break
                self._changed.wait(remaining)
        if found is None:
            seen = [event["type"] for event in self.events]
            raise AssertionError(f"no matching webhook event ({event_type or 'any type'}) within {timeout} s; "
                                 f"received: {seen}")
        return found

    def clear(self):
        with self._changed:
            self.events.clear()
            self.rejected = 0

    def close(self):
        self._server.shutdown()
        self._server.server_close()
