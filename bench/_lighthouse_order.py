"""A paid order for bench/lighthouse.sh to measure its page: a new shopper of `make run` buys a mug as the checkout
page does (quote, ConfirmationToken, confirm), with Stripe's test card and the emulator's test helper that makes a
ConfirmationToken server-side. Prints the shopper's Cookie header and the order page's path, tab-separated.

    .venv/bin/python -m bench._lighthouse_order [BASE] [STRIPE_API]   # http://127.0.0.1:5000 http://127.0.0.1:12111
"""
from __future__ import annotations

import sys
from types import SimpleNamespace
from urllib.parse import urlsplit

from tests.support.shopper import Shopper


def buy(base: str, stripe_api: str) -> tuple[str, str]:
    shop = SimpleNamespace(url=base, payments_url=base, emulator=SimpleNamespace(api=stripe_api))
    shopper = Shopper(shop)
    status, answer = shopper.buy()
    if answer.get("status") != "succeeded":
        raise SystemExit(f"the purchase did not succeed ({status}): {answer}")
    cookie = "; ".join(f"{cookie.name}={cookie.value}" for cookie in shopper.http.cookies)
    return cookie, urlsplit(answer["order_url"]).path


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000"
    stripe_api = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:12111"  # make run's emulator
    print("\t".join(buy(base, stripe_api)))
