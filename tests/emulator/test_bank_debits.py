"""US bank account debits: processing after confirm, then the bank's answer from Stripe's test account numbers,
later or at once through the control API, with Stripe's events."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY

ROUTING = "110000000"


def _token(emu, account, name="Jenny Rosen", routing=ROUTING):
    """A ConfirmationToken as the Payment Element makes it (publishable key)."""
    resp = requests.post(emu.api + "/v1/confirmation_tokens", headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                         data={"payment_method_data[type]": "us_bank_account",
                               "payment_method_data[us_bank_account][routing_number]": routing,
                               "payment_method_data[us_bank_account][account_number]": account,
                               "payment_method_data[us_bank_account][account_holder_type]": "individual",
                               "payment_method_data[billing_details][name]": name,
                               "payment_method_data[billing_details][email]": "jenny@example.com"}, timeout=10)
    return resp


def _debit(client, emu, account, amount=2500):
    token = _token(emu, account).json()
    pi = client.v1.payment_intents.create(params={"amount": amount, "currency": "usd",
                                                  "payment_method_types": ["card", "us_bank_account"]})
    return client.v1.payment_intents.confirm(pi.id, params={"confirmation_token": token["id"],
                                                            "expand": ["payment_method"]})


def _types_for(webhook_receiver, pi_id):
    return sorted(e["type"] for e in webhook_receiver.events()
                  if e["data"]["object"].get("id") == pi_id or e["data"]["object"].get("payment_intent") == pi_id)


def test_a_token_previews_the_bank_account_as_stripe_does(emu):
    token = _token(emu, "000123456789").json()
    preview = token["payment_method_preview"]
    assert preview["type"] == "us_bank_account" and "card" not in preview
    assert preview["us_bank_account"]["last4"] == "6789" and preview["us_bank_account"]["routing_number"] == ROUTING
    assert preview["billing_details"]["name"] == "Jenny Rosen"


@pytest.mark.parametrize("field,value,param", [
    ("routing", "110000001", "payment_method_data[us_bank_account][routing_number]"),
    ("account", "12ab", "payment_method_data[us_bank_account][account_number]"),
    ("name", "", "payment_method_data[billing_details][name]"),
])
def test_bad_bank_details_are_refused_naming_the_field(emu, field, value, param):
    kwargs = {"routing": ROUTING, "name": "Jenny Rosen", "account": "000123456789", field: value}
    resp = _token(emu, kwargs["account"], name=kwargs["name"], routing=kwargs["routing"])
    assert resp.status_code == 400 and resp.json()["error"]["param"] == param


def test_a_debit_processes_then_succeeds_with_its_events(client, emu, webhook_receiver):
    pi = _debit(client, emu, "000123456789")
    assert pi.status == "processing" and pi.payment_method.type == "us_bank_account"
    assert pi.payment_method.us_bank_account.last4 == "6789"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.status == "pending" and charge.payment_method_details.type == "us_bank_account"
    assert emu.ctl("GET", "/_emulator/debits")["processing"] == [pi.id]
    assert emu.ctl("POST", "/_emulator/debits/settle", {"payment_intent": pi.id}) == {"settled": [pi.id]}
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"
    assert client.v1.charges.retrieve(pi.latest_charge).status == "succeeded"
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == pi.id)
    webhook_receiver.wait_for(
        lambda e: e["type"] == "charge.succeeded" and e["data"]["object"]["payment_intent"] == pi.id)
    assert _types_for(webhook_receiver, pi.id) == sorted(["payment_intent.created", "charge.pending",
                                                          "payment_intent.processing", "charge.succeeded",
                                                          "payment_intent.succeeded"])
    # settled once: a second settle has nothing waiting
    assert requests.post(emu.control + "/_emulator/debits/settle", json={"payment_intent": pi.id},
                         timeout=10).status_code == 404


@pytest.mark.parametrize("account,code", [("000111111113", "account_closed"), ("000222222227", "insufficient_funds")])
def test_a_debit_the_bank_refuses_fails_after_processing(client, emu, webhook_receiver, account, code):
    pi = _debit(client, emu, account)
    assert pi.status == "processing"
    emu.ctl("POST", "/_emulator/debits/settle")
    after = client.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method" and after.last_payment_error.code == code
    assert after.last_payment_error.payment_method.type == "us_bank_account"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.status == "failed" and charge.failure_code == code
    webhook_receiver.wait_for(
        lambda e: e["type"] == "payment_intent.payment_failed" and e["data"]["object"]["id"] == pi.id)


def test_a_debit_settles_by_itself_after_the_configured_delay(client, emu, webhook_receiver):
    assert emu.ctl("POST", "/_emulator/debits", {"settle_after": 0.2}) == {"settle_after": 0.2}
    pi = _debit(client, emu, "000123456789")
    assert pi.status == "processing"
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.succeeded" and e["data"]["object"]["id"] == pi.id)
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_an_intent_that_does_not_take_bank_debits_refuses_one(client, emu):
    token = _token(emu, "000123456789").json()
    pi = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd",
                                                  "payment_method_types": ["card"]})
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.confirm(pi.id, params={"confirmation_token": token["id"]})
    assert "us_bank_account is invalid" in str(info.value)
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_payment_method"
