"""The skeleton path the shop depends on: tokens, create+confirm, retrieve, webhooks, Stripe.js served."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, WEBHOOK_SECRET


def test_banner_and_request_id(emu):
    assert emu.banner == (f"stripe-emulator listening on http://127.0.0.1:{emu.port} "
                          f"(control http://127.0.0.1:{emu.control_port})")
    resp = requests.get(emu.api + "/v1/payment_intents", auth=("sk_test_emulator", ""), timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Request-Id"].startswith("req_")


def test_browser_confirmation_token_with_publishable_key(emu):
    resp = requests.post(emu.api + "/v1/confirmation_tokens", headers={
        "Authorization": f"Bearer {PUBLISHABLE_KEY}", "Origin": "http://shop.example"}, data={
        "payment_method_data[type]": "card",
        "payment_method_data[card][number]": "4242424242424242",
        "payment_method_data[card][exp_month]": "12",
        "payment_method_data[card][exp_year]": "2040",
        "payment_method_data[card][cvc]": "123",
        "payment_method_data[billing_details][address][postal_code]": "12345",
    }, timeout=5)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    token = resp.json()
    assert token["id"].startswith("ctoken_") and token["object"] == "confirmation_token"
    preview = token["payment_method_preview"]
    assert preview["card"]["last4"] == "4242"
    assert preview["billing_details"]["address"]["postal_code"] == "12345"
    assert "4242424242424242" not in resp.text


def test_publishable_key_cannot_create_payment_intents(emu):
    resp = requests.post(emu.api + "/v1/payment_intents", data={"amount": 1000, "currency": "usd"},
                         headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"}, timeout=5)
    assert resp.status_code == 401
    assert "publishable API key" in resp.json()["error"]["message"]


def test_create_and_confirm_with_test_helper_token_succeeds(client, webhook_receiver):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    assert token.id.startswith("ctoken_")
    pi = client.v1.payment_intents.create(params={
        "amount": 2500, "currency": "usd", "confirm": True, "confirmation_token": token.id,
        "metadata": {"order_id": "42"}, "automatic_payment_methods": {"enabled": True},
    })
    assert pi.status == "succeeded"
    assert pi.amount_received == 2500
    assert pi.latest_charge.startswith("ch_")
    assert pi.client_secret.startswith(pi.id + "_secret_")
    again = client.v1.payment_intents.retrieve(pi.id)
    assert again.status == "succeeded" and again.metadata["order_id"] == "42"

    succeeded = webhook_receiver.wait_for(  # this intent's event: an earlier test's may arrive late
        lambda e: e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == pi.id)
    assert succeeded[0]["data"]["object"]["amount"] == 2500
    webhook_receiver.wait_for(lambda e: e["type"] == "charge.succeeded")
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.created")


def test_decline_returns_402_and_leaves_requires_payment_method(client, webhook_receiver):
    with pytest.raises(stripe.CardError) as info:
        client.v1.payment_intents.create(params={
            "amount": 2500, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa_chargeDeclined"})
    err = info.value
    assert err.http_status == 402
    assert err.code == "card_declined"
    assert err.error.decline_code == "generic_decline"
    assert err.user_message == "Your card was declined."
    pi = err.error.payment_intent
    assert pi.status == "requires_payment_method"
    assert pi.last_payment_error.decline_code == "generic_decline"
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.payment_failed"
                              and e["data"]["object"]["id"] == pi.id)
    webhook_receiver.wait_for(lambda e: e["type"] == "charge.failed")


def test_webhooks_are_signed_as_stripe_signs(client, webhook_receiver):
    client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                             "payment_method": "pm_card_visa"})
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.succeeded")
    assert webhook_receiver.received
    for delivery in list(webhook_receiver.received):
        event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
        assert event.id.startswith("evt_")
        assert event.object == "event" and event.livemode is False
        assert set(event.request.to_dict()) == {"id", "idempotency_key"}
        assert event.request.id.startswith("req_")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_wrong")


def test_stripe_js_is_served(emu):
    for path in ("/v3/", "/v3"):
        resp = requests.get(emu.api + path, timeout=5)
        assert resp.status_code == 200
        assert "javascript" in resp.headers["Content-Type"]
        assert "window.Stripe" in resp.text
    frame = requests.get(emu.api + "/v3/elements-inner-payment.html", timeout=5)
    assert frame.status_code == 200
    assert "script-src 'self'" in frame.headers["Content-Security-Policy"]
    assert 'name="number"' in frame.text and 'placeholder="1234 1234 1234 1234"' in frame.text
