"""Stripe's test card table: numbers through the browser route and pm_card_* ids from the server."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY

# number, pm alias, expected status after confirm, (code, decline_code) or None
TABLE = [
    ("4242424242424242", "pm_card_visa", "succeeded", None),
    ("4000000000000002", "pm_card_visa_chargeDeclined", "requires_payment_method",
     ("card_declined", "generic_decline")),
    ("4000000000009995", "pm_card_visa_chargeDeclinedInsufficientFunds", "requires_payment_method",
     ("card_declined", "insufficient_funds")),
    ("4000000000009987", "pm_card_visa_chargeDeclinedLostCard", "requires_payment_method",
     ("card_declined", "lost_card")),
    ("4000000000009979", "pm_card_visa_chargeDeclinedStolenCard", "requires_payment_method",
     ("card_declined", "stolen_card")),
    ("4000000000000069", "pm_card_chargeDeclinedExpiredCard", "requires_payment_method",
     ("expired_card", "expired_card")),
    ("4000000000000127", "pm_card_chargeDeclinedIncorrectCvc", "requires_payment_method",
     ("incorrect_cvc", "incorrect_cvc")),
    ("4000000000000119", "pm_card_chargeDeclinedProcessingError", "requires_payment_method",
     ("processing_error", "processing_error")),
    ("4100000000000019", "pm_card_radarBlock", "requires_payment_method", ("card_declined", "fraudulent")),
    ("4000000000003220", "pm_card_threeDSecure2Required", "requires_action", None),
    ("4000002500003155", "pm_card_authenticationRequiredOnSetup", "requires_action", None),
    ("4000002760003184", "pm_card_authenticationRequired", "requires_action", None),
    ("4000008400001629", "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "requires_action", None),
    ("4000000000000341", "pm_card_chargeCustomerFail", "requires_payment_method", ("card_declined", "generic_decline")),
    ("4000000000007726", "pm_card_pendingRefund", "succeeded", None),
    ("4000000000005126", "pm_card_refundFail", "succeeded", None),
]


def browser_token(emu, number):
    resp = requests.post(emu.api + "/v1/confirmation_tokens", headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                         data={"payment_method_data[type]": "card", "payment_method_data[card][number]": number,
                               "payment_method_data[card][exp_month]": "12",
                               "payment_method_data[card][exp_year]": "2040",
                               "payment_method_data[card][cvc]": "123" if len(number) == 16 else "1234",
                               "payment_method_data[billing_details][address][postal_code]": "12345"}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()["id"]


def _confirm(client, **params):
    try:
        params = {"amount": 2000, "currency": "usd", "confirm": True, **params}
        return client.v1.payment_intents.create(params=params), None
    except stripe.CardError as err:
        return err.error.payment_intent, err


@pytest.mark.parametrize("number,alias,status,decline", TABLE, ids=[row[1] for row in TABLE])
@pytest.mark.parametrize("via", ["card_number", "pm_alias"])
def test_card_outcome(emu, client, number, alias, status, decline, via):
    if via == "card_number":
        pi, err = _confirm(client, confirmation_token=browser_token(emu, number))
    else:
        pi, err = _confirm(client, payment_method=alias)
    assert pi.status == status
    if decline:
        assert err is not None and err.http_status == 402
        assert (err.code, err.error.decline_code) == decline
        assert (pi.last_payment_error.code, pi.last_payment_error.decline_code) == decline
        charge = client.v1.charges.retrieve(pi.latest_charge)
        assert charge.status == "failed" and charge.failure_code == decline[0]
    else:
        assert err is None
    if status == "requires_action":
        assert pi.next_action.type == "use_stripe_sdk"


def test_luhn_invalid_number_is_rejected(emu):
    resp = requests.post(emu.api + "/v1/confirmation_tokens", headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                         data={"payment_method_data[card][number]": "4242424242424241",
                               "payment_method_data[card][exp_month]": "12",
                               "payment_method_data[card][exp_year]": "2040"}, timeout=5)
    assert resp.status_code == 402 and resp.json()["error"]["code"] == "incorrect_number"


def _three_ds(emu, pi, result):
    resp = requests.post(f"{emu.api}/v1/three_d_secure/{pi.id}/challenge",
                         headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                         data={"client_secret": pi.client_secret, "result": result}, timeout=5)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.mark.parametrize("alias,result,status,code", [
    ("pm_card_threeDSecure2Required", "complete", "succeeded", None),
    ("pm_card_authenticationRequired", "fail", "requires_payment_method", "payment_intent_authentication_failure"),
    ("pm_card_authenticationRequiredChargeDeclinedInsufficientFunds", "complete", "requires_payment_method",
     "card_declined"),
])
def test_three_d_secure_outcomes(emu, client, webhook_receiver, alias, result, status, code):
    pi, _ = _confirm(client, payment_method=alias)
    assert pi.status == "requires_action"
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.requires_action")
    after = _three_ds(emu, pi, result)
    assert after["status"] == status
    if code:
        assert after["last_payment_error"]["code"] == code
        webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.payment_failed"
                                  and e["data"]["object"]["id"] == pi.id)
    else:
        webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.succeeded"
                                  and e["data"]["object"]["id"] == pi.id)


def test_three_d_secure_needs_the_client_secret(emu, client):
    pi, _ = _confirm(client, payment_method="pm_card_threeDSecure2Required")
    resp = requests.post(f"{emu.api}/v1/three_d_secure/{pi.id}/challenge",
                         headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                         data={"client_secret": "wrong", "result": "complete"}, timeout=5)
    assert resp.status_code == 404
    pk_get = requests.get(f"{emu.api}/v1/payment_intents/{pi.id}",
                          params={"key": PUBLISHABLE_KEY, "client_secret": pi.client_secret}, timeout=5)
    assert pk_get.status_code == 200 and pk_get.json()["status"] == "requires_action"
