"""3-D Secure next actions: use_stripe_sdk for Stripe.js, redirect_to_url for a server-side return_url."""

from urllib.parse import parse_qs, urlsplit

import requests

from test_cards import browser_token


def _three_ds(client, **params):
    return client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "confirm": True,
                                                    "payment_method": "pm_card_threeDSecure2Required", **params})


def test_server_side_confirmation_with_return_url_redirects(client, emu):
    pi = _three_ds(client, return_url="https://shop.example/orders/9?x=1")
    assert pi.status == "requires_action" and pi.next_action.type == "redirect_to_url"
    redirect = pi.next_action.redirect_to_url
    assert redirect.return_url == "https://shop.example/orders/9?x=1"
    page = requests.get(redirect.url, timeout=5)
    assert page.status_code == 200 and "Complete" in page.text and "Fail" in page.text
    resp = requests.post(redirect.url.split("?")[0], data={"client_secret": pi.client_secret, "result": "complete"},
                         allow_redirects=False, timeout=5)
    assert resp.status_code == 303
    back = urlsplit(resp.headers["Location"])
    assert (back.netloc, back.path) == ("shop.example", "/orders/9")
    assert parse_qs(back.query) == {"x": ["1"], "payment_intent": [pi.id],
                                    "payment_intent_client_secret": [pi.client_secret],
                                    "redirect_status": ["succeeded"]}
    assert client.v1.payment_intents.retrieve(pi.id).status == "succeeded"


def test_failed_redirect_authentication_returns_failed(client, emu):
    pi = _three_ds(client, return_url="https://shop.example/back")
    resp = requests.post(pi.next_action.redirect_to_url.url.split("?")[0],
                         data={"client_secret": pi.client_secret, "result": "fail"}, allow_redirects=False, timeout=5)
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["redirect_status"] == ["failed"]
    after = client.v1.payment_intents.retrieve(pi.id)
    assert after.status == "requires_payment_method"
    assert after.last_payment_error.code == "payment_intent_authentication_failure"


def test_the_redirect_page_needs_the_client_secret(client, emu):
    pi = _three_ds(client, return_url="https://shop.example/back")
    base = pi.next_action.redirect_to_url.url.split("?")[0]
    assert requests.get(base, params={"client_secret": "wrong"}, timeout=5).status_code == 404
    assert requests.post(base, data={"client_secret": "wrong", "result": "complete"},
                         allow_redirects=False, timeout=5).status_code == 404
    assert client.v1.payment_intents.retrieve(pi.id).status == "requires_action"


def test_stripe_js_confirmations_use_the_sdk(client, emu):
    # a ConfirmationToken carries use_stripe_sdk: true (the shop's flow, with a return_url)
    token = browser_token(emu, "4000000000003220")
    pi = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "confirm": True,
                                                  "confirmation_token": token,
                                                  "return_url": "https://shop.example/orders/9"})
    assert pi.next_action.type == "use_stripe_sdk"
    assert _three_ds(client, return_url="https://shop.example/x", use_stripe_sdk=True).next_action.type == \
        "use_stripe_sdk"
    assert _three_ds(client).next_action.type == "use_stripe_sdk"  # nowhere to redirect to


def test_setup_intent_redirect(client, emu):
    si = client.v1.setup_intents.create(params={"confirm": True, "payment_method": "pm_card_threeDSecure2Required",
                                                "return_url": "https://shop.example/saved"})
    assert si.next_action.type == "redirect_to_url"
    resp = requests.post(si.next_action.redirect_to_url.url.split("?")[0],
                         data={"client_secret": si.client_secret, "result": "complete"}, allow_redirects=False,
                         timeout=5)
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["setup_intent"] == [si.id] and query["redirect_status"] == ["succeeded"]
    assert client.v1.setup_intents.retrieve(si.id).status == "succeeded"
