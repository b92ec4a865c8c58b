"""Parse Stripe's form encoding (``a[b][0]=c``) into nested dicts and lists."""

from urllib.parse import parse_qsl

from stripe_emulator.errors import StripeError


def parse_form(text: str) -> dict:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise StripeError(400, "invalid_request_error",
                          "Invalid request body: could not parse form-encoded parameters.", store=False)
    return nest(pairs)


def nest(pairs) -> dict:
    root: dict = {}
    for key, value in pairs:
        parts = _split_key(key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return _listify(root)


def _split_key(key: str) -> list:
    if "[" not in key:
        return [key]
    head, _, rest = key.partition("[")
    if not rest.endswith("]"):
        raise StripeError(400, "invalid_request_error", f"Invalid parameter name: {key}", param=key, store=False)
    return [head] + rest[:-1].split("][")


def _listify(node):
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted
