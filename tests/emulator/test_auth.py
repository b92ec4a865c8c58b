"""API keys: secret key (Bearer or Basic) for the server, publishable key only for browser routes."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY


def test_missing_key(emu):
    resp = requests.get(emu.api + "/v1/payment_intents", timeout=5)
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert resp.json()["error"]["message"].startswith("You did not provide an API key.")


def test_wrong_key_is_masked(emu):
    resp = requests.get(emu.api + "/v1/payment_intents", headers={"Authorization": "Bearer sk_test_wrongkey1234"},
                        timeout=5)
    assert resp.status_code == 401
    message = resp.json()["error"]["message"]
    assert message.startswith("Invalid API Key provided: sk_test_") and message.endswith("1234")
    assert "wrongkey" not in message


def test_wrong_key_through_stripe_python(emu):
    client = stripe.StripeClient("sk_test_nope", base_addresses={"api": emu.api}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError) as info:
        client.v1.payment_intents.list()
    assert info.value.http_status == 401


def test_bearer_and_basic_auth(emu):
    bearer = requests.get(emu.api + "/v1/payment_intents", headers={"Authorization": f"Bearer {SECRET_KEY}"},
                          timeout=5)
    basic = requests.get(emu.api + "/v1/payment_intents", auth=(SECRET_KEY, ""), timeout=5)
    assert bearer.status_code == basic.status_code == 200


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/payment_intents"), ("GET", "/v1/payment_intents"), ("POST", "/v1/refunds"),
    ("GET", "/v1/events"), ("POST", "/v1/webhook_endpoints"), ("POST", "/v1/test_helpers/confirmation_tokens"),
])
def test_publishable_key_is_refused_on_server_routes(emu, method, path):
    resp = requests.request(method, emu.api + path, headers={"Authorization": f"Bearer {PUBLISHABLE_KEY}"},
                            timeout=5)
    assert resp.status_code == 401
    assert "publishable API key" in resp.json()["error"]["message"]


def test_publishable_key_needs_the_client_secret_to_read_a_payment_intent(emu, client):
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    url = f"{emu.api}/v1/payment_intents/{pi.id}"
    assert requests.get(url, params={"key": PUBLISHABLE_KEY}, timeout=5).status_code == 404
    ok = requests.get(url, params={"key": PUBLISHABLE_KEY, "client_secret": pi.client_secret}, timeout=5)
    assert ok.status_code == 200 and ok.json()["id"] == pi.id


def test_cors_preflight(emu):
    resp = requests.options(emu.api + "/v1/confirmation_tokens", headers={
        "Origin": "http://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"}, timeout=5)
    assert resp.status_code == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
