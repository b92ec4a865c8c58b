"""app/events/redact.py: at any depth of any JSON, no client secret, billing details or fingerprint survives, a
card keeps only its brand and last four, and everything else is kept as it was."""
import json

from hypothesis import given, settings, strategies as st

from app.events.redact import redact

KEYS = st.sampled_from(["id", "amount", "currency", "metadata", "client_secret", "card", "billing_details",
                        "fingerprint", "brand", "last4", "exp_month", "status", "data", "object"])
values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5),
                      max_leaves=30)


def _walk(value, parent=None):
    if isinstance(value, dict):
        yield parent, value
        for key, item in value.items():
            yield from _walk(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(event=values)
def test_nothing_secret_survives_at_any_depth(event):
    original = json.dumps(event)
    kept = redact(event)
    assert json.dumps(event) == original  # the event itself is not changed
    for parent, mapping in _walk(kept):
        assert not {"client_secret", "billing_details", "fingerprint"} & set(mapping)
        if parent == "card":
            assert set(mapping) <= {"brand", "last4"}


def test_what_the_handlers_read_is_kept():
    intent = {"id": "pi_1", "amount": 500, "currency": "usd", "status": "succeeded", "metadata": {"order_id": "o"},
              "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}}
    charge = {"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 200, "metadata": {"order_id": "o"}}
    assert redact(intent) == intent and redact(charge) == charge
