"""Integration fixtures: the real emulator over HTTP, and an app pointed at it with short timeouts."""
from __future__ import annotations

import re

import pytest

from helpers import EMULATOR_SECRET_KEY, EmulatorProcess

ATTEMPT = re.compile(r'data-attempt-id="([0-9a-f]{32})"')


@pytest.fixture(scope="session")
def emulator_server():
    emulator = EmulatorProcess()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_server):
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def stripe_settings(settings, emulator):
    return settings.with_overrides(stripe_api_base=emulator.api, stripe_js_url=f"{emulator.api}/v3/",
                                   stripe_connect_timeout=0.5, stripe_read_timeout=1.0, checkout_deadline=4.0,
                                   breaker_fail_max=3, breaker_reset_timeout=1.0)


@pytest.fixture
def stripe_app(make_app, stripe_settings):
    return make_app(stripe_settings)


class Checkout:
    """A shopper's session against the app's test client; ConfirmationTokens from Stripe's test helper."""

    def __init__(self, app, emulator, product="enamel-mug", quantity=1):
        import requests

        self.app, self.emulator, self.requests = app, emulator, requests
        self.client = app.test_client()
        assert self.client.post("/cart/add", data={"product_id": product, "quantity": quantity}).status_code == 303
        self.attempt_id = ATTEMPT.search(self.client.get("/checkout").get_data(as_text=True)).group(1)

    def token(self, payment_method="pm_card_visa") -> str:
        response = self.requests.post(f"{self.emulator.api}/v1/test_helpers/confirmation_tokens",
                                      data={"payment_method": payment_method}, auth=(EMULATOR_SECRET_KEY, ""),
                                      timeout=10)
        response.raise_for_status()
        return response.json()["id"]

    def confirm(self, token: str, client=None):
        return (client or self.client).post("/checkout/confirm", json={
            "confirmation_token": token, "attempt_id": self.attempt_id, "email": "shopper@example.com"})


@pytest.fixture
def checkout(stripe_app, emulator):
    return lambda **kw: Checkout(stripe_app, emulator, **kw)
