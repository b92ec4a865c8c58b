"""A tiny blocking HTTP client (standard library only) for the emulator's API and control API.

Used by the pytest plugin, ``trigger`` and ``listen``, so none of them needs more than the emulator does.
"""

import json
import urllib.error
import urllib.parse
import urllib.request


class ApiError(Exception):
    def __init__(self, status, body):
        self.status = status
        self.body = body
        message = body.get("error", {}).get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")


def _flatten(params, prefix=""):
    """Stripe's form encoding: ``a[b][0]=c``."""
    pairs = []
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, (dict, list, tuple)):
            pairs += _flatten(value, name)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def call(method, url, *, api_key=None, form=None, body=None, timeout=10.0):
    """One request; answers the decoded JSON body, raises ApiError on a non-2xx answer."""
    headers = {}
    data = None
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if form is not None:
        encoded = urllib.parse.urlencode(_flatten(form))
        if method == "GET":
            url += ("&" if "?" in url else "?") + encoded if encoded else ""
        else:
            data = encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            decoded = json.loads(text)
        except ValueError:
            decoded = text.decode(errors="replace")
        raise ApiError(exc.code, decoded) from None
    return json.loads(text) if text else None
