"""Signature verification on the raw body: rotation, tolerance, future timestamps, malformed headers."""
import time

import pytest

from app.payments import WebhookSignatureError, verify_webhook
from tests.support.emulator import WEBHOOK_SECRET
from tests.support.events import event_payload, sign

OLD = "whsec_old_" + "b" * 32


def test_a_correctly_signed_event_is_accepted_with_either_secret_during_rotation():
    body = event_payload("payment_intent.succeeded", {"id": "pi_1"})
    for secret in (WEBHOOK_SECRET, OLD):
        event = verify_webhook(body.encode(), sign(body, secret), (WEBHOOK_SECRET, OLD), 300)
        assert event["type"] == "payment_intent.succeeded"


@pytest.mark.parametrize("header_for", [
    lambda body: sign(body, "whsec_forged"),
    lambda body: sign(body, WEBHOOK_SECRET, int(time.time()) - 301),
    lambda body: sign(body, WEBHOOK_SECRET, int(time.time()) + 3600),
    lambda body: None,
    lambda body: "",
    lambda body: "garbage",
    lambda body: "t=abc,v1=def",
    lambda body: sign(body + " ", WEBHOOK_SECRET),
])
def test_forged_stale_future_missing_and_malformed_signatures_are_refused(header_for):
    body = event_payload("payment_intent.succeeded", {"id": "pi_1"})
    with pytest.raises(WebhookSignatureError):
        verify_webhook(body.encode(), header_for(body), (WEBHOOK_SECRET,), 300)


def test_a_signed_body_that_is_not_an_event_is_refused():
    body = '{"hello": "world"}'
    with pytest.raises(WebhookSignatureError, match="not a Stripe event"):
        verify_webhook(body.encode(), sign(body), (WEBHOOK_SECRET,), 300)
