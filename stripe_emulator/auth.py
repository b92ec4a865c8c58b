"""API key checks: the secret key for server calls, the publishable key for browser routes."""

import base64
import re

from stripe_emulator.errors import StripeError

NO_KEY = ("You did not provide an API key. You need to provide your API key in the Authorization header, "
          "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
          "See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
PK_FORBIDDEN = ("This API call cannot be made with a publishable API key. Please use a secret API key. You can "
                "find a list of your API keys at https://dashboard.stripe.com/account/apikeys.")

# Routes a publishable key may call (browser side), as (method, path regex).
PUBLISHABLE_ROUTES = [
    ("POST", re.compile(r"^/v1/confirmation_tokens$")),
    ("GET", re.compile(r"^/v1/payment_intents/[^/]+$")),
    ("GET", re.compile(r"^/v1/setup_intents/[^/]+$")),
    ("POST", re.compile(r"^/v1/three_d_secure/[^/]+/challenge$")),
]


def _unauthorized(message):
    return StripeError(401, "invalid_request_error", message, store=False,
                       headers={"WWW-Authenticate": 'Basic realm="Stripe"'})


def mask(key: str) -> str:
    prefix = key[:8] if key.startswith(("sk_", "pk_", "rk_")) else ""
    return prefix + "*" * max(len(key) - len(prefix) - 4, 0) + key[-4:]


def presented_key(request, params_key=None):
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return header
    return params_key or request.query.get("key")


def authenticate(request, config, params_key=None) -> str:
    """Return 'secret' or 'publishable', or raise Stripe's 401."""
    key = presented_key(request, params_key)
    if not key:
        raise _unauthorized(NO_KEY)
    if key == config.secret_key:
        return "secret"
    if key == config.publishable_key:
        path = request.path
        if any(request.method == m and rx.match(path) for m, rx in PUBLISHABLE_ROUTES):
            return "publishable"
        raise _unauthorized(PK_FORBIDDEN)
    raise _unauthorized(f"Invalid API Key provided: {mask(key)}")
