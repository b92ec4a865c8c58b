"""Kept for existing imports (`from checkout_client import Checkout`): the shopper client lives in tests/support."""
from tests.support.shopper import Checkout, checkout_for  # noqa: F401
