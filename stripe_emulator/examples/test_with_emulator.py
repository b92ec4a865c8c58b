"""An example test file for a project that uses the emulator: ``pytest -p stripe_emulator.pytest_plugin``."""

import pytest
import stripe


def test_a_payment_succeeds_and_its_webhook_arrives(stripe_client, webhook_collector):
    intent = stripe_client.v1.payment_intents.create(
        params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True,
                "payment_method_types": ["card"]})

    assert intent.status == "succeeded"
    event = webhook_collector.wait_for("payment_intent.succeeded")
    assert event["data"]["object"]["id"] == intent.id


def test_a_declined_card_is_a_card_error(stripe_client):
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_intents.create(
            params={"amount": 2000, "currency": "usd", "payment_method": "pm_card_visa_chargeDeclined",
                    "confirm": True, "payment_method_types": ["card"]})

    assert declined.value.code == "card_declined"


def test_stripe_being_down_is_an_api_error(stripe_client, emulator_faults):
    emulator_faults.inject("POST /v1/payment_intents", status=503, count=1)

    with pytest.raises(stripe.APIError):
        stripe_client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"})
    assert stripe_client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd"}).status \
        == "requires_payment_method"
