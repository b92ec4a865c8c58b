"""Parameter checks shared by the route handlers (Stripe's 400 answers)."""

from stripe_emulator.errors import invalid, missing, unknown_param

COMMON = {"expand"}
METADATA_MAX_KEYS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 50, 40, 500


def check_known(params: dict, allowed: set):
    for key in params:
        if key not in allowed and key not in COMMON:
            raise unknown_param(key)


def require(params: dict, name: str):
    value = params.get(name)
    if value is None or value == "":
        raise missing(name)
    return value


def integer(params: dict, name: str, default=None, minimum=None, maximum=None):
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    if minimum is not None and number < minimum or maximum is not None and number > maximum:
        raise invalid(f"Invalid integer: {value}", code="parameter_invalid_integer", param=name)
    return number


def boolean(params: dict, name: str, default=False):
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid(f"Invalid boolean: {value}", code="parameter_invalid_boolean", param=name)


def string(params: dict, name: str, default=None):
    value = params.get(name, default)
    if value is not None and not isinstance(value, str):
        raise invalid(f"Invalid string: {value!r}", code="parameter_invalid_string", param=name)
    return value if value != "" else None


def metadata(params: dict, current=None, name="metadata"):
    """Merge metadata as Stripe does: empty string unsets a key, '' unsets all."""
    value = params.get(name)
    result = dict(current or {})
    if value is None:
        return result
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param=name)
    for key, val in value.items():
        if len(key) > METADATA_KEY_MAX:
            raise invalid(f"Metadata keys can have up to {METADATA_KEY_MAX} characters, but you passed in a key "
                          f"that is {len(key)} characters. Invalid key: {key}", param=f"{name}[{key}]")
        if val == "":
            result.pop(key, None)
            continue
        if not isinstance(val, str):
            raise invalid("Invalid string", code="parameter_invalid_string", param=f"{name}[{key}]")
        if len(val) > METADATA_VALUE_MAX:
            raise invalid(f"Metadata values can have up to {METADATA_VALUE_MAX} characters, but you passed in a "
                          f"value that is {len(val)} characters. Invalid value: {val[:40]}...",
                          param=f"{name}[{key}]")
        result[key] = val
    if len(result) > METADATA_MAX_KEYS:
        raise invalid(f"You can have up to {METADATA_MAX_KEYS} metadata keys. You passed in {len(result)} keys.",
                      param=name)
    return result


def expand_list(params: dict):
    value = params.get("expand") or []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        value = list(value.values())
    return value
