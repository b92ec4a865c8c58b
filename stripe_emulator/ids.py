"""Stripe-looking object ids: prefix, underscore, 24 base62 characters."""

import random
import time

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_rng = random.Random()


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "_1" + "".join(_rng.choices(_ALPHABET, k=length - 1))


def now() -> int:
    return int(time.time())
