"""A paid order for bench/lighthouse.sh to measure its page: a new shopper of `make run` buys one product as the
checkout page does (quote, ConfirmationToken, confirm), with Stripe's test card and the test helper that makes a
ConfirmationToken server-side. Prints the shopper's Cookie header and the order page's path, tab-separated.
Standard library only: it runs before the venv's packages are needed.

    python3 bench/_lighthouse_order.py [BASE]     # BASE: http://127.0.0.1:5000
The secret key is STRIPE_SECRET_KEY, else the emulator's (`make run`'s default)."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import sys
import urllib.parse
import urllib.request
from base64 import b64encode

EMULATOR_SECRET_KEY = "sk_test_emulator"  # app/devserver.py
SHIPPING = {"shipping[name]": "Jenny Rosen", "shipping[address][line1]": "1 Market St",
            "shipping[address][city]": "San Francisco", "shipping[address][state]": "CA",
            "shipping[address][postal_code]": "94105", "shipping[address][country]": "US"}
ADDRESS = {"name": "Jenny Rosen", "phone": "", "address": {"line1": "1 Market St", "line2": "", "city": "San Francisco",
                                                         "state": "CA", "postal_code": "94105", "country": "US"}}


def _attribute(page: str, name: str) -> str:
    """The value of the first `name="..."` on the page."""
    found = re.search(rf'{name}="([^"]+)"', page)
    if not found:
        raise SystemExit(f"the page has no {name}")
    return found.group(1)


def buy(base: str) -> tuple[str, str]:
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def send(path, data=None, headers=None, json_body=None):
        if json_body is not None:
            data, headers = json.dumps(json_body).encode(), {"Content-Type": "application/json", **(headers or {})}
        elif data is not None:
            data = urllib.parse.urlencode(data).encode()
        with browser.open(urllib.request.Request(base + path, data=data, headers=headers or {}), timeout=30) as answer:
            return answer.read().decode()

    home = send("/")
    product = re.search(r'href="/products/([^"]+)"', home).group(1)
    send("/cart/add", {"csrf_token": _attribute(home, 'name="csrf_token" value'), "product_id": product, "quantity": 1})
    checkout = send("/checkout")
    csrf, attempt = _attribute(checkout, "data-csrf-token"), _attribute(checkout, "data-attempt-id")
    quote = json.loads(send(_attribute(checkout, "data-quote-url"), headers={"X-CSRFToken": csrf}, json_body={
        "attempt_id": attempt, "shipping": ADDRESS, "shipping_method": "standard"}))
    stripe_api = _attribute(checkout, "data-stripe-js-url").removesuffix("/").removesuffix("/v3")
    key = os.environ.get("STRIPE_SECRET_KEY", EMULATOR_SECRET_KEY)
    token_request = urllib.request.Request(
        f"{stripe_api}/v1/test_helpers/confirmation_tokens",
        data=urllib.parse.urlencode({"payment_method": "pm_card_visa", **SHIPPING}).encode(),
        headers={"Authorization": "Basic " + b64encode(f"{key}:".encode()).decode()})
    with urllib.request.urlopen(token_request, timeout=30) as answer:
        token = json.loads(answer.read())["id"]
    paid = json.loads(send(_attribute(checkout, "data-confirm-url"), headers={"X-CSRFToken": csrf}, json_body={
        "confirmation_token": token, "attempt_id": quote["attempt_id"], "email": "lighthouse@example.com",
        "quote": quote["quote"]}))
    if paid.get("status") != "succeeded":
        raise SystemExit(f"the purchase did not succeed: {paid}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, urllib.parse.urlsplit(paid["order_url"]).path


if __name__ == "__main__":
    print("\t".join(buy(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")))
