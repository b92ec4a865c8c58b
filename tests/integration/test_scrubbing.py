"""Secrets and card data never reach a page or a log line: keys, webhook secrets and client secrets are masked
by the log formatter, anything card-like too, and error pages never echo what went wrong."""
import io
import json
import logging
from contextlib import contextmanager

import pytest

from app.telemetry.logs import ScrubbingFormatter, scrub
from tests.support.emulator import EMULATOR_SECRET_KEY, WEBHOOK_SECRET
from tests.support.events import sign
from security_checks import fill_cart, pending_order

CLIENT_SECRET = "pi_3Pabc123DEF_secret_Xyz789abcDEF"
CARDS = ["4242424242424242", "4242 4242 4242 4242", "4000-0000-0000-0002", "378282246310005"]
LIVE_KEYS = ["sk_live_51HabcdefGHIJKLmnop", "rk_live_51Habcdefghij", "whsec_0123456789abcdefABCDEF"]


@pytest.mark.parametrize("secret", [EMULATOR_SECRET_KEY, WEBHOOK_SECRET, CLIENT_SECRET, *CARDS, *LIVE_KEYS])
def test_scrub_masks_keys_client_secrets_and_card_numbers(secret):
    assert secret not in scrub(f"calling with {secret} now")


@pytest.fixture
def boom_app(make_app, settings):
    """An app with one view that fails with every kind of secret in its exception."""
    app = make_app(settings)

    def boom():
        raise RuntimeError(f"stripe said no: key={EMULATOR_SECRET_KEY} whsec={WEBHOOK_SECRET} "
                           f"client_secret={CLIENT_SECRET} card={CARDS[1]}")

    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/checkout/boom", "checkout_boom", boom)
    return app


@contextmanager
def shop_log(as_json: bool = False):
    """What the shop's log handler writes (ScrubbingFormatter), first among the root handlers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ScrubbingFormatter(as_json))
    root = logging.getLogger()
    root.handlers.insert(0, handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _assert_clean(text: str) -> None:
    for secret in (EMULATOR_SECRET_KEY, WEBHOOK_SECRET, CLIENT_SECRET, *CARDS):
        assert secret not in text, secret


def test_an_unhandled_error_logs_no_secret_and_the_page_shows_none(boom_app, caplog):
    client = boom_app.test_client()
    with shop_log() as text_log, caplog.at_level(logging.INFO):
        page = client.get("/boom")
    with shop_log(as_json=True) as json_log:
        api = client.get("/checkout/boom", headers={"Accept": "application/json"})
    assert page.status_code == api.status_code == 500
    _assert_clean(page.get_data(as_text=True))
    _assert_clean(json.dumps(api.json))
    assert "Something went wrong on our side" in page.get_data(as_text=True)
    rendered = text_log.getvalue() + json_log.getvalue()
    assert rendered.count("RuntimeError: stripe said no") == 2  # the failure is logged, with the traceback
    _assert_clean(rendered)
    assert "sk_test_[redacted]" in rendered and "[card?]" in rendered


def test_no_page_renders_a_server_side_secret(app, client, settings):
    public_id = pending_order(app)
    fill_cart(client)
    for path in ("/", "/products/enamel-mug", "/cart", "/checkout", f"/orders/{public_id}",
                 f"/orders/{public_id}/status", "/nope"):
        html = client.get(path).get_data(as_text=True)
        for secret in (settings.secret_key, settings.stripe_secret_key, WEBHOOK_SECRET):
            assert secret not in html, (path, secret)
    assert settings.stripe_publishable_key in client.get("/checkout").get_data(as_text=True)  # the one it needs


def test_bad_requests_log_nothing_secret(app, client, caplog):
    public_id = pending_order(app)
    body = json.dumps({"id": "evt_1", "type": "payment_intent.succeeded",
                       "data": {"object": {"metadata": {"order_id": public_id}, "client_secret": CLIENT_SECRET}}})
    with shop_log() as log, caplog.at_level(logging.INFO):
        client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body, "whsec_forged")})
        client.post("/checkout/confirm", json={"confirmation_token": "ctoken_" + CARDS[0],
                                               "attempt_id": "a" * 32, "email": f"{CARDS[0]}@example.com"})
        client.post("/csp-report", content_type="application/csp-report", data=json.dumps(
            {"csp-report": {"document-uri": f"http://localhost/orders/x?payment_intent_client_secret={CLIENT_SECRET}",
                            "blocked-uri": f"https://evil.example/?c={CARDS[0]}",
                            "effective-directive": "script-src"}}))
    assert caplog.records  # the webhook refusal and the CSP violation are logged
    _assert_clean("\n".join(r.getMessage() for r in caplog.records))  # not even before the formatter
    assert "webhook refused" in log.getvalue() and "csp violation" in log.getvalue()
    _assert_clean(log.getvalue())
