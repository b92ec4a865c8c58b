"""SetupIntents through stripe-python: save a card for later, with and without 3-D Secure."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY
from test_objects import assert_shape


def _challenge(emu, intent, result):
    return requests.post(f"{emu.api}/v1/three_d_secure/{intent.id}/challenge", auth=(PUBLISHABLE_KEY, ""),
                         data={"client_secret": intent.client_secret, "result": result}, timeout=5)


def test_setup_intent_saves_a_card(client):
    cus = client.v1.customers.create()
    si = client.v1.setup_intents.create(params={"customer": cus.id, "payment_method_types": ["card"]})
    assert si.status == "requires_payment_method" and si.usage == "off_session" and si.id.startswith("seti_")
    assert si.client_secret.startswith(si.id + "_secret_")
    assert_shape("setup_intent", si)
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    done = client.v1.setup_intents.confirm(si.id, params={"confirmation_token": token.id})
    assert done.status == "succeeded" and done.payment_method
    assert [p.id for p in client.v1.customers.payment_methods.list(cus.id).data] == [done.payment_method]
    assert [s.id for s in client.v1.setup_intents.list(params={"customer": cus.id}).data] == [si.id]
    pi = client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd", "customer": cus.id,
                                                  "payment_method": done.payment_method, "off_session": True,
                                                  "confirm": True})
    assert pi.status == "succeeded"
    types = {e.type for e in client.v1.events.list(params={"limit": 100}).data}
    assert {"setup_intent.created", "setup_intent.succeeded", "payment_method.attached"} <= types


def test_setup_with_3ds_then_off_session_payment(client, emu):
    cus = client.v1.customers.create()
    si = client.v1.setup_intents.create(params={"customer": cus.id, "confirm": True,
                                                "payment_method": "pm_card_authenticationRequiredOnSetup"})
    assert si.status == "requires_action" and si.next_action.type == "use_stripe_sdk"
    resp = _challenge(emu, si, "complete")
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    pi = client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd", "customer": cus.id,
                                                  "payment_method": si.payment_method, "off_session": True,
                                                  "confirm": True})
    assert pi.status == "succeeded"


def test_a_card_that_always_needs_3ds_still_fails_off_session(client, emu):
    cus = client.v1.customers.create()
    si = client.v1.setup_intents.create(params={"customer": cus.id, "confirm": True,
                                                "payment_method": "pm_card_authenticationRequired"})
    assert _challenge(emu, si, "complete").json()["status"] == "succeeded"
    with pytest.raises(stripe.CardError) as info:
        client.v1.payment_intents.create(params={"amount": 1200, "currency": "usd", "customer": cus.id,
                                                 "payment_method": si.payment_method, "off_session": True,
                                                 "confirm": True})
    assert info.value.code == "authentication_required"


def test_failed_authentication_and_declined_setup(client, emu):
    cus = client.v1.customers.create()
    si = client.v1.setup_intents.create(params={"customer": cus.id, "confirm": True,
                                                "payment_method": "pm_card_threeDSecure2Required"})
    after = _challenge(emu, si, "fail").json()
    assert after["status"] == "requires_payment_method"
    assert after["last_setup_error"]["code"] == "setup_intent_authentication_failure"
    with pytest.raises(stripe.CardError) as info:
        client.v1.setup_intents.confirm(si.id, params={"payment_method": "pm_card_visa_chargeDeclined"})
    assert info.value.code == "card_declined" and info.value.error.setup_intent.status == "requires_payment_method"
    assert client.v1.customers.payment_methods.list(cus.id).data == []
    # Stripe: 4000000000000341 attaches to a customer; only charging it fails
    ok = client.v1.setup_intents.confirm(si.id, params={"payment_method": "pm_card_chargeCustomerFail"})
    assert ok.status == "succeeded"
    types = {e.type for e in client.v1.events.list(params={"limit": 100}).data}
    assert {"setup_intent.requires_action", "setup_intent.setup_failed"} <= types


def test_cancel_update_and_bad_input(client):
    si = client.v1.setup_intents.create(params={"metadata": {"a": "b"}})
    assert client.v1.setup_intents.update(si.id, params={"description": "later"}).description == "later"
    canceled = client.v1.setup_intents.cancel(si.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.setup_intents.confirm(si.id, params={"payment_method": "pm_card_visa"})
    assert info.value.code == "setup_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.setup_intents.create(params={"usage": "sometimes"})
    assert info.value.param == "usage"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.setup_intents.create(params={"customer": "cus_missing"})
    assert info.value.http_status == 404


def test_publishable_key_reads_a_setup_intent_with_its_client_secret(client, emu):
    si = client.v1.setup_intents.create()
    url = f"{emu.api}/v1/setup_intents/{si.id}"
    assert requests.get(url, params={"key": PUBLISHABLE_KEY, "client_secret": si.client_secret},
                        timeout=5).json()["id"] == si.id
    assert requests.get(url, params={"key": PUBLISHABLE_KEY, "client_secret": "wrong"}, timeout=5).status_code == 404
