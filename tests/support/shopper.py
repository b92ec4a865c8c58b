"""The shopper client: a shopper's browser session without the browser (cart form, checkout page, confirm
endpoint), over HTTP against a running stack (`Shopper`) or through an app's test client (`Checkout`, the same
steps). The ConfirmationToken comes from Stripe's test helper, as Stripe's docs suggest for server-side tests."""
from __future__ import annotations

import re

import requests

from .emulator import EMULATOR_SECRET_KEY

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ATTEMPT = re.compile(r'data-attempt-id="([0-9a-f]{32})"')
PAGE_CSRF = re.compile(r'data-csrf-token="([^"]+)"')


# Standard shipping at no charge: with TAX=none the cart's own total is what is charged (tests/conftest.py)
FREE_STANDARD_SHIPPING = "domestic:standard=0@3-5,express=1499@1-2;international:standard=0@6-10,express=3999@2-4"
SHIPPING = {"name": "Jenny Rosen", "phone": "",
            "address": {"line1": "1 Market St", "line2": "", "city": "San Francisco", "state": "CA",
                        "postal_code": "94105", "country": "US"}}


def shipping_form(shipping: dict) -> dict:
    """A `shipping` hash as Stripe's form encoding has it (shipping[address][city]=...)."""
    form = {f"shipping[{key}]": value for key, value in shipping.items() if key != "address" and value}
    form.update({f"shipping[address][{key}]": value for key, value in shipping["address"].items() if value})
    return form


def confirmation_token(emulator_api: str, payment_method: str = "pm_card_visa", shipping: dict | None = None) -> str:
    """A ConfirmationToken as the checkout page makes one: a card and the Address Element's delivery address."""
    response = requests.post(f"{emulator_api}/v1/test_helpers/confirmation_tokens",
                             data={"payment_method": payment_method, **shipping_form(shipping or SHIPPING)},
                             auth=(EMULATOR_SECRET_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()["id"]


def confirm_body(token: str, attempt_id: str, email: str, quote: str | None = None) -> dict:
    body = {"confirmation_token": token, "attempt_id": attempt_id, "email": email}
    if quote is not None:
        body["quote"] = quote
    return body


class Shopper:
    """Against a running shop: anything with `url`, `payments_url` and `emulator` (a Stack)."""

    def __init__(self, stack):
        self.stack = stack
        self.http = requests.Session()
        self.signed_quote: str | None = None

    def buy(self, product_id: str = "enamel-mug", quantity: int = 1, payment_method: str = "pm_card_visa",
            timeout: float = 30) -> tuple[int, dict]:
        self.open_checkout(product_id, quantity, timeout)
        self.quote(timeout=timeout)
        return self.confirm(self.confirmation_token(payment_method), timeout=timeout)

    def quote(self, shipping: dict | None = None, method: str = "standard", timeout: float = 30) -> dict:
        """Ask for the breakdown as the page does once the address is entered: the confirm sends it back."""
        response = self.http.post(f"{self.stack.url}/checkout/quote", timeout=timeout,
                                  headers={"X-CSRFToken": self.csrf},
                                  json={"attempt_id": self.attempt_id, "shipping": shipping or SHIPPING,
                                        "shipping_method": method})
        response.raise_for_status()
        answer = response.json()
        self.signed_quote, self.attempt_id = answer["quote"], answer["attempt_id"]
        return answer

    def open_checkout(self, product_id: str = "enamel-mug", quantity: int = 1, timeout: float = 30) -> None:
        """Put the product in the cart and load the checkout page (its attempt id and CSRF token)."""
        page = self.http.get(f"{self.stack.url}/", timeout=timeout).text
        self.http.post(f"{self.stack.url}/cart/add", timeout=timeout, data={
            "csrf_token": CSRF.search(page).group(1), "product_id": product_id, "quantity": quantity})
        checkout = self.http.get(f"{self.stack.url}/checkout", timeout=timeout).text
        self.attempt_id = ATTEMPT.search(checkout).group(1)
        self.csrf = PAGE_CSRF.search(checkout).group(1)

    def confirmation_token(self, payment_method: str = "pm_card_visa") -> str:
        return confirmation_token(self.stack.emulator.api, payment_method)

    def confirm(self, token: str, timeout: float = 30) -> tuple[int, dict]:
        response = self.http.post(f"{self.stack.payments_url}/checkout/confirm", timeout=timeout,
                                  headers={"X-CSRFToken": self.csrf},
                                  json=confirm_body(token, self.attempt_id, "storm@example.com",
                                                    self.signed_quote))
        self.last_response = response
        return response.status_code, response.json()


class Checkout:
    """The same steps through an app's test client (CSRF off, as the test apps have it); `confirm` answers the
    test client's response."""

    def __init__(self, app, emulator, product="enamel-mug", quantity=1):
        self.app, self.emulator = app, emulator
        self.client = app.test_client()
        assert self.client.post("/cart/add", data={"product_id": product, "quantity": quantity}).status_code == 303
        self.attempt_id = ATTEMPT.search(self.client.get("/checkout").get_data(as_text=True)).group(1)

    def token(self, payment_method="pm_card_visa", shipping: dict | None = None) -> str:
        return confirmation_token(self.emulator.api, payment_method, shipping)

    def quote(self, shipping: dict | None = None, method: str = "standard", code: str | None = None):
        """Ask for the breakdown as the page does when the address or a choice changes; a new attempt id the
        answer names (the order's details changed) is taken, as the page takes it."""
        body = {"attempt_id": self.attempt_id, "shipping": shipping or SHIPPING, "shipping_method": method}
        if code is not None:
            body["discount_code"] = code
        response = self.client.post("/checkout/quote", json=body)
        if response.status_code == 200:
            self.attempt_id = response.json["attempt_id"]
        return response

    def confirm(self, token: str, client=None, email: str = "shopper@example.com", quote: str | None = None):
        body = confirm_body(token, self.attempt_id, email)
        if quote is not None:
            body["quote"] = quote
        return (client or self.client).post("/checkout/confirm", json=body)


def checkout_for(app, emulator):
    shopper = Checkout(app, emulator)
    return shopper.confirm(shopper.token()), shopper


def place_order(attempt_id: str, lines, email: str, holder, shipping: dict | None = None):
    """Place an order as the confirm endpoint does, without paying it: priced for `shipping` (standard, no code)
    under the current app's settings. Call inside an app context."""
    from flask import current_app

    from app.checkout import quotes, service
    from app.payments import get_gateway

    settings = current_app.config["SETTINGS"]
    quote = quotes.make(service.items_of(lines), shipping=quotes.shipping_from(shipping or SHIPPING, settings),
                        method="standard", offer=None, settings=settings, gateway=get_gateway(current_app))
    return service.place_order(attempt_id, lines, quote, email, settings, holder)
