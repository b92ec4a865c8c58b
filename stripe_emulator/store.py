"""In-memory state: capped per-kind object tables, the request log, counters.

Each kind keeps insertion (= creation) order in an OrderedDict; when a table
exceeds ``max_objects`` the oldest entries are evicted, so memory stays bounded.
"""

from collections import OrderedDict, deque

from stripe_emulator.errors import no_such

KINDS = ("payment_intent", "payment_method", "confirmation_token", "charge", "refund", "dispute",
         "event", "webhook_endpoint", "customer", "setup_intent", "tax_calculation", "tax_transaction")


class Table:
    def __init__(self, kind, cap):
        self.kind = kind
        self.cap = cap
        self.items: OrderedDict = OrderedDict()
        self.meta: dict = {}  # private per-object data (e.g. the test card), evicted alongside
        self.created_total = 0
        self.evicted = 0

    def add(self, obj, meta=None):
        self.items[obj["id"]] = obj
        if meta is not None:
            self.meta[obj["id"]] = meta
        self.created_total += 1
        while len(self.items) > self.cap:
            old_id, _ = self.items.popitem(last=False)
            self.meta.pop(old_id, None)
            self.evicted += 1
        return obj

    def get(self, obj_id):
        return self.items.get(obj_id)

    def require(self, obj_id, param="id"):
        obj = self.items.get(obj_id) if isinstance(obj_id, str) else None
        if obj is None:
            raise no_such(self.kind, obj_id, param)
        return obj

    def delete(self, obj_id):
        self.meta.pop(obj_id, None)
        return self.items.pop(obj_id, None)

    def newest_first(self):
        return reversed(self.items.values())


class Store:
    def __init__(self, max_objects=10000, max_log=10000):
        self.max_objects = max_objects
        self.max_log = max_log
        self.reset()

    def reset(self):
        self.tables = {kind: Table(kind, self.max_objects) for kind in KINDS}
        # Endpoints are few and configured by hand; never evict them.
        self.tables["webhook_endpoint"].cap = 10_000_000
        self.request_log: deque = deque(maxlen=self.max_log)
        self.webhook_attempts: deque = deque(maxlen=self.max_log)

    def __getitem__(self, kind) -> Table:
        return self.tables[kind]

    def stats(self):
        return {
            kind + "s": {"live": len(t.items), "created": t.created_total, "evicted": t.evicted}
            for kind, t in self.tables.items()
        }
