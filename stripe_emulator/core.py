"""The emulator's shared context: configuration, state, randomness, event emission."""

import random
from dataclasses import dataclass, field

from stripe_emulator import objects
from stripe_emulator.store import Store


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 12111
    control_port: int = 12112
    control_host: str = "127.0.0.1"  # the control API is never published where shoppers' browsers reach
    secret_key: str = "sk_test_emulator"
    publishable_key: str = "pk_test_emulator"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_events: list[str] = field(default_factory=lambda: ["*"])  # the --webhook-url endpoint's enabled_events
    webhook_timeout: float = 10.0
    retry_compression: float = 1000.0
    webhook_retries: str = "test"  # Stripe's retry policy to follow: "test" (sandbox) or "live"
    seed: int = 0
    max_objects: int = 10000
    webhook_concurrency: int = 32
    debit_settle_seconds: float = 3.0  # how long a US bank account debit stays processing
    faults: list = field(default_factory=list)


def snapshot(obj: dict) -> dict:
    """A frozen view of an object for an Event or an error body.

    A shallow copy is enough because the emulator only ever changes objects at
    the top level: nested values (metadata, last_payment_error, refunds, ...)
    are replaced, never edited in place. Sharing them keeps memory low.
    """
    return dict(obj)


class Emulator:
    def __init__(self, config: Config):
        self.config = config
        self.store = Store(max_objects=config.max_objects)
        self.rng = random.Random(config.seed)
        self.webhooks = None  # set by webhooks.Dispatcher
        self.faults = None  # set by faults.FaultRegistry
        self.idempotency = None  # set by idempotency.IdempotencyStore
        self.debits: dict[str, str] = {}  # processing bank debits: PaymentIntent id -> account number
        self.debit_settle_seconds = config.debit_settle_seconds  # the control API may change it until a reset
        self.tax_calculation_validity: int | None = None  # seconds a new tax calculation lasts; None: Stripe's 90 days

    def seed(self, seed):
        self.rng.seed(seed)

    def emit(self, type_, obj, request=None, previous=None):
        """Record an Event for a state change and hand it to webhook delivery."""
        endpoints = self.webhooks.endpoints_for(type_) if self.webhooks else []
        request_id = request.get("request_id") if request is not None else None
        idem_key = request.get("idempotency_key") if request is not None else None
        evt = objects.event(type_, snapshot(obj), len(endpoints), request_id, idem_key, previous)
        self.store["event"].add(evt)
        if endpoints:
            self.webhooks.enqueue(evt, endpoints)
        return evt
