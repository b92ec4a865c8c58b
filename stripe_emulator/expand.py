"""``expand[]`` as Stripe does it: dotted paths up to four levels deep, ``data.`` paths on lists.

Each object kind names the fields that can be expanded and how: a store kind (the field holds an id of an
object the emulator keeps), a balance transaction (made up from the object that names it: the emulator keeps
only their ids), or the refunds of a charge (since API version 2022-11-15 a Charge carries ``refunds`` only
when it is expanded). The stored objects are never changed: expansion works on copies.
"""

from stripe_emulator.errors import invalid
from stripe_emulator.objects import list_object

MAX_DEPTH = 4
BALANCE_TRANSACTION = "balance_transaction"
REFUNDS = "refunds"

RELATIONS = {
    "payment_intent": {"latest_charge": "charge", "payment_method": "payment_method", "customer": "customer"},
    "charge": {"payment_intent": "payment_intent", "payment_method": "payment_method", "customer": "customer",
               "balance_transaction": BALANCE_TRANSACTION, "refunds": REFUNDS},
    "refund": {"charge": "charge", "payment_intent": "payment_intent", "balance_transaction": BALANCE_TRANSACTION},
    "dispute": {"charge": "charge", "payment_intent": "payment_intent"},
    "payment_method": {"customer": "customer"},
    "confirmation_token": {"payment_intent": "payment_intent"},
}
LISTS = ("list", "search_result")


def paths_tree(paths) -> dict:
    tree: dict = {}
    for path in paths:
        if not isinstance(path, str) or not path:
            raise invalid(f"Invalid expand: {path!r}", param="expand")
        parts = path.split(".")
        if len(parts) - (parts[0] == "data") > MAX_DEPTH:
            raise invalid(f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}",
                          param="expand")
        node = tree
        for part in parts:
            node = node.setdefault(part, {})
    return tree


def check(paths, kind: str):
    """Refuse a path that cannot be expanded on ``kind`` before a request changes anything."""
    if paths:
        _check(paths_tree(paths), kind, "")


def _check(tree, kind, prefix):
    relations = RELATIONS.get(kind, {})
    for name, sub in tree.items():
        how = relations.get(name)
        if how is None:
            raise invalid(f"This property cannot be expanded ({prefix}{name}).", param="expand")
        if how == REFUNDS:
            for part in sub:
                if part != "data":
                    raise invalid(f"This property cannot be expanded ({prefix}{name}.{part}).", param="expand")
            _check(sub.get("data", {}), "refund", f"{prefix}{name}.data.")
        elif sub:
            _check(sub, how, f"{prefix}{name}.")


def expand(obj: dict, paths, emu, top: dict | None = None) -> dict:
    """A copy of ``obj`` (an object or a list page) with the requested paths expanded."""
    if not paths:
        return obj
    return _apply(obj, paths_tree(paths), emu, "", top)


def _apply(obj, tree, emu, prefix, top=None):
    result = dict(obj)
    if obj.get("object") in LISTS:
        for name in tree:
            if name != "data" and not (name == "total_count" and obj["object"] == "search_result"):
                raise invalid(f"This property cannot be expanded ({prefix}{name}).", param="expand")
        if "data" in tree and tree["data"]:
            result["data"] = [_apply(item, tree["data"], emu, prefix + "data.") for item in obj["data"]]
        return result
    relations = dict(RELATIONS.get(obj.get("object"), {}), **(top or {}))
    for name, sub in tree.items():
        how = relations.get(name)
        if how is None:
            raise invalid(f"This property cannot be expanded ({prefix}{name}).", param="expand")
        value = result.get(name)
        if isinstance(value, str) or (value is None and how == REFUNDS):
            value = _resolve(emu, obj, how, value)
        if isinstance(value, dict) and sub:
            value = _apply(value, sub, emu, f"{prefix}{name}.")
        result[name] = value
    return result


def _resolve(emu, parent, how, value):
    if how == BALANCE_TRANSACTION:
        return balance_transaction(parent, value)
    if how == REFUNDS:
        return charge_refunds(emu, parent)
    table = emu.store.tables.get(how)
    found = table.get(value) if table is not None else None
    return found if found is not None else value


def charge_refunds(emu, ch, limit=10):
    found = [r for r in emu.store["refund"].newest_first() if r["charge"] == ch["id"]]
    return list_object(f"/v1/charges/{ch['id']}/refunds", found[:limit], len(found) > limit)


def balance_transaction(source, txn_id):
    """The balance transaction a charge or refund names, built from it (card fee: 2.9% + 30)."""
    refund = source["object"] == "refund"
    amount = -source["amount"] if refund else source["amount_captured"]
    fee = 0 if refund else round(amount * 0.029) + 30
    fee_details = [] if refund else [{"amount": fee, "application": None, "currency": source["currency"],
                                      "description": "Stripe processing fees", "type": "stripe_fee"}]
    return {
        "id": txn_id, "object": "balance_transaction", "amount": amount, "available_on": source["created"] + 2 * 86400,
        "balance_type": "payments", "created": source["created"], "currency": source["currency"],
        "description": None, "exchange_rate": None, "fee": fee, "fee_details": fee_details, "net": amount - fee,
        "reporting_category": "refund" if refund else "charge", "source": source["id"], "status": "pending",
        "type": "refund" if refund else "charge",
    }
