"""Small helpers for integration tests that build their own app."""
from conftest import Checkout


def checkout_for(app, emulator):
    shopper = Checkout(app, emulator)
    return shopper.confirm(shopper.token()), shopper
