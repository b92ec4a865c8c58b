"""Parameter checks shared by the route handlers (Stripe's 400 answers)."""

from stripe_emulator.errors import invalid, missing, unknown_param

COMMON = {"expand"}


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
        if val == "":
            result.pop(key, None)
        else:
            result[key] = str(val)
    return result


def expand_list(params: dict):
    value = params.get("expand") or []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        value = list(value.values())
    return value
