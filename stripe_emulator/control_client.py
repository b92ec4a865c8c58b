"""The control API seen from Python: reset, faults, webhook faults, outages, logs."""

from stripe_emulator.http_client import call


class ControlClient:
    def __init__(self, control_base: str):
        self.base = control_base.rstrip("/")

    def request(self, method, path, body=None):
        return call(method, self.base + path, body=body)

    def reset(self):
        """Drops every object, event, idempotency key, fault and log entry."""
        return self.request("POST", "/_emulator/reset")

    def requests(self, path=None, method=None):
        query = "&".join(f"{k}={v}" for k, v in (("path", path), ("method", method)) if v)
        return self.request("GET", "/_emulator/requests" + (f"?{query}" if query else ""))["data"]

    def webhook_attempts(self, event=None):
        return self.request("GET", "/_emulator/webhook_attempts" + (f"?event={event}" if event else ""))["data"]

    def stats(self):
        return self.request("GET", "/_emulator/stats")


class FaultControls:
    """Inject and clear faults (docs/emulator.md, "Control API", lists every field)."""

    def __init__(self, control: ControlClient):
        self.control = control

    def inject(self, route="*", **fields):
        """e.g. ``inject("POST /v1/payment_intents", status=503, count=1)``; answers the fault with its id."""
        return self.control.request("POST", "/_emulator/faults", dict(fields, route=route))

    def webhook(self, mode, **fields):
        """A webhook delivery fault: ``drop``, ``duplicate``, ``delay`` or ``reorder``."""
        return self.control.request("POST", "/_emulator/webhook_faults", dict(fields, mode=mode))

    def outage(self, down=True):
        """The API port stops listening (``down=False`` restores it); the control port stays up."""
        return self.control.request("POST", "/_emulator/outage", {"down": down})

    def clear(self):
        self.control.request("DELETE", "/_emulator/faults")
        self.control.request("DELETE", "/_emulator/webhook_faults")
        self.outage(False)
