"""A shopper's checkout against an app's test client, for integration tests (a uniquely named module: the
tiers' conftest.py files would shadow each other if tests imported from them)."""
from __future__ import annotations

import re

import requests

from helpers import EMULATOR_SECRET_KEY

ATTEMPT = re.compile(r'data-attempt-id="([0-9a-f]{32})"')


class Checkout:
    """A shopper's session against the app's test client; ConfirmationTokens from Stripe's test helper."""

    def __init__(self, app, emulator, product="enamel-mug", quantity=1):
        self.app, self.emulator = app, emulator
        self.client = app.test_client()
        assert self.client.post("/cart/add", data={"product_id": product, "quantity": quantity}).status_code == 303
        self.attempt_id = ATTEMPT.search(self.client.get("/checkout").get_data(as_text=True)).group(1)

    def token(self, payment_method="pm_card_visa") -> str:
        response = requests.post(f"{self.emulator.api}/v1/test_helpers/confirmation_tokens",
                                      data={"payment_method": payment_method}, auth=(EMULATOR_SECRET_KEY, ""),
                                      timeout=10)
        response.raise_for_status()
        return response.json()["id"]

    def confirm(self, token: str, client=None, email: str = "shopper@example.com"):
        return (client or self.client).post("/checkout/confirm", json={
            "confirmation_token": token, "attempt_id": self.attempt_id, "email": email})


def checkout_for(app, emulator):
    shopper = Checkout(app, emulator)
    return shopper.confirm(shopper.token()), shopper
