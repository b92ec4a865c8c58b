"""The ``shipping`` parameter of PaymentIntents and ConfirmationTokens: checked as Stripe does, in its shapes.

A ConfirmationToken's shipping is ``{address, name, phone}``; a PaymentIntent's adds ``carrier`` and
``tracking_number``. A token's shipping becomes its PaymentIntent's when the intent has none.
"""

from stripe_emulator.errors import invalid, missing, unknown_param

ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
TOKEN_KEYS = ("address", "name", "phone")
INTENT_KEYS = TOKEN_KEYS + ("carrier", "tracking_number")


def _text(value, param):
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", code="parameter_invalid_string", param=param)
    return value


def _object(value, param):
    if not isinstance(value, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param=param)
    return value


def parse(value, *, for_token=False, param="shipping"):
    """The shipping to store, or None for an absent or empty (unset) value; a 400 for a malformed one."""
    if value in (None, ""):
        return None
    keys = TOKEN_KEYS if for_token else INTENT_KEYS
    for key in _object(value, param):
        if key not in keys:
            raise unknown_param(f"{param}[{key}]")
    if not _text(value.get("name"), f"{param}[name]"):
        raise missing(f"{param}[name]")
    if value.get("address") in (None, ""):
        raise missing(f"{param}[address]")
    address = _object(value["address"], f"{param}[address]")
    for key in address:
        if key not in ADDRESS_KEYS:
            raise unknown_param(f"{param}[address][{key}]")
    if not _text(address.get("line1"), f"{param}[address][line1]"):
        raise missing(f"{param}[address][line1]")
    result = {"address": {key: _text(address.get(key), f"{param}[address][{key}]") for key in ADDRESS_KEYS},
              "name": value["name"]}
    for key in keys[2:]:
        result[key] = _text(value.get(key), f"{param}[{key}]")
    return result


def for_intent(token_shipping: dict) -> dict:
    """A ConfirmationToken's shipping in a PaymentIntent's shape."""
    return {"address": dict(token_shipping["address"]), "carrier": None, "name": token_shipping["name"],
            "phone": token_shipping.get("phone"), "tracking_number": None}
