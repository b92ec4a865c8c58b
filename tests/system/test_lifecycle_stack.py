"""Stripe's dispute and refund test cards through the whole stack: the emulator's signed webhooks reach gunicorn,
a real RQ worker applies them, and the shop ends with the dispute beside the order and the refund exact."""
from __future__ import annotations

import os

import pytest
import stripe

from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.shopper import Shopper
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = Stack(tmp_path_factory.mktemp("lifecycle"), database_url=os.environ.get("TEST_DATABASE_URL"),
                    workers=1).start()
    yield running
    running.stop()


def _client(stack):
    return stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": stack.emulator.api})


def _pay(stack, card: str) -> tuple[str, str]:
    status, body = Shopper(stack).buy("enamel-mug", 1, payment_method=card)
    assert status == 200 and body["status"] == "succeeded", body
    public_id = body["order_url"].rstrip("/").rsplit("/", 1)[-1]
    stack.wait_until(lambda: stack.query('SELECT state FROM "order" WHERE public_id = :p', p=public_id)[0][0]
                     == "fulfilled", timeout=30)
    intent = stack.query('SELECT payment_intent_id FROM "order" WHERE public_id = :p', p=public_id)[0][0]
    return public_id, intent


def _dispute(stack, intent: str):
    rows = stack.query('SELECT d.id, d.status, d.funds_withdrawn, o.state FROM dispute d JOIN "order" o '
                       "ON o.id = d.order_id WHERE o.payment_intent_id = :pi", pi=intent)
    return rows[0] if rows else None


def test_the_dispute_card_opens_a_dispute_beside_the_order_and_winning_evidence_wins_it(stack):
    _, intent = _pay(stack, "pm_card_createDispute")
    stack.wait_until(lambda: (_dispute(stack, intent) or (None, None, 0))[2] > 0, timeout=30)
    dispute_id, status, withdrawn, state = _dispute(stack, intent)
    assert (status, state) == ("needs_response", "fulfilled") and withdrawn == 1200
    _client(stack).v1.disputes.update(dispute_id, params={"evidence": {"uncategorized_text": "winning_evidence"}})
    stack.wait_until(lambda: _dispute(stack, intent)[1:3] == ("won", 0), timeout=30)
    assert _dispute(stack, intent)[3] == "fulfilled"


def test_a_refund_that_fails_on_the_refund_fail_card_gives_the_amount_back(stack):
    public_id, intent = _pay(stack, "pm_card_refundFail")
    refund = _client(stack).v1.refunds.create(params={"payment_intent": intent})

    def refund_row():
        return stack.query("SELECT r.status, r.failure_reason, o.state, o.amount_refunded FROM refund r "
                           'JOIN "order" o ON o.id = r.order_id WHERE r.stripe_refund_id = :r', r=refund.id)

    stack.wait_until(lambda: refund_row() and refund_row()[0][0] == "failed", timeout=30)
    assert refund_row()[0] == ("failed", "expired_or_canceled_card", "fulfilled", 0)
    assert stack.query("SELECT count(*) FROM stripe_event WHERE status NOT IN ('processed', 'ignored')") == [(0,)]


def test_a_refund_is_told_to_the_shopper_once_with_its_amount(stack):
    public_id, intent = _pay(stack, "pm_card_visa")
    _client(stack).v1.refunds.create(params={"payment_intent": intent, "amount": 500})
    stack.wait_until(lambda: stack.query("SELECT count(*) FROM outbox_email e JOIN \"order\" o ON o.id = e.order_id "
                                         "WHERE o.public_id = :p AND e.kind = 'refund-1' AND e.sent_at IS NOT NULL",
                                         p=public_id) == [(1,)], timeout=30)
    subject = stack.query("SELECT e.subject FROM outbox_email e JOIN \"order\" o ON o.id = e.order_id "
                          "WHERE o.public_id = :p AND e.kind = 'refund-1'", p=public_id)[0][0]
    assert subject == f"Refund of $5.00 for order {public_id[:8].upper()}"
    order_id = stack.query('SELECT id FROM "order" WHERE public_id = :p', p=public_id)[0][0]
    assert stack.mail.message_ids.count(f"<refund-1-{order_id}@storefront>") == 1
