"""Idempotency-Key handling as Stripe does it.

The first result of a POST with a key (success or error, including 500s once
the endpoint began executing) is kept for 24 hours and replayed with
``Idempotent-Replayed: true``. Same key with other parameters -> 400
``idempotency_error``; same key while the first is still running -> 409 ``idempotency_key_in_use``.
Validation failures, 401s and 429s are not stored. Keys are scoped per API key.
Entries expire after 24 h and the table is capped (oldest dropped first).
"""

import json
import time
from collections import OrderedDict

from aiohttp import web

from stripe_emulator.auth import presented_key
from stripe_emulator.errors import StripeError, api_error, invalid
from stripe_emulator.httputil import read_params

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255


class Entry:
    __slots__ = ("fingerprint", "created", "response", "request_id")

    def __init__(self, fingerprint, request_id):
        self.fingerprint = fingerprint
        self.created = time.time()
        self.response = None  # (status, body, headers) once finished
        self.request_id = request_id


class IdempotencyStore:
    def __init__(self, emu, cap):
        emu.idempotency = self
        self.cap = cap
        self.entries: OrderedDict = OrderedDict()

    def reset(self):
        self.entries.clear()

    def get(self, scope):
        entry = self.entries.get(scope)
        if entry is not None and time.time() - entry.created > TTL_SECONDS:
            del self.entries[scope]
            return None
        return entry

    def put(self, scope, entry):
        self.entries[scope] = entry
        while len(self.entries) > self.cap:
            self.entries.popitem(last=False)


def error_response(exc: StripeError, request_id: str) -> web.Response:
    resp = web.Response(text=json.dumps(exc.body(request_id)), status=exc.status, content_type="application/json")
    for name, value in exc.headers.items():
        resp.headers[name] = value
    return resp


@web.middleware
async def idempotency_middleware(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or key is None or not request.path.startswith("/v1/"):
        return await handler(request)
    if len(key) > MAX_KEY_LENGTH:
        raise invalid(f"Idempotency-Key header must be at most {MAX_KEY_LENGTH} characters long. "
                      f"You sent a key of {len(key)} characters.", param="Idempotency-Key")
    store: IdempotencyStore = request.app["emu"].idempotency
    request["idempotency_key"] = key
    params = await read_params(request)
    fingerprint = (request.method, request.path, json.dumps(params, sort_keys=True))
    scope = (presented_key(request, params.get("key")), key)
    entry = store.get(scope)
    if entry is not None:
        if entry.response is None:
            raise StripeError(409, "idempotency_error",
                              "There is currently another in-progress request using this Idempotency-Key: another "
                              "request with the same idempotency key is in flight. Please try again later.",
                              code="idempotency_key_in_use", store=False)
        if entry.fingerprint != fingerprint:
            raise StripeError(400, "idempotency_error",
                              "Keys for idempotent requests can only be used with the same parameters they were "
                              f"first used with. Try using a key other than '{key}' if you meant to execute a "
                              "different request.", store=False)
        status, body, headers = entry.response
        request["replayed"] = True
        resp = web.Response(text=body, status=status, content_type="application/json")
        resp.headers.update(headers)
        resp.headers["Idempotent-Replayed"] = "true"
        resp.headers["Original-Request"] = entry.request_id
        return resp
    entry = Entry(fingerprint, request["request_id"])
    store.put(scope, entry)
    try:
        resp = await handler(request)
    except (StripeError, web.HTTPException) as exc:
        if isinstance(exc, web.HTTPException) or not exc.store:  # an unknown route (404) is not a result to keep
            store.entries.pop(scope, None)
            raise
        resp = error_response(exc, request["request_id"])
    except Exception:
        request.app.logger.exception("handler failed")
        resp = error_response(api_error(), request["request_id"])
    extra = {k: v for k, v in resp.headers.items() if k.lower().startswith("stripe-")}
    entry.response = (resp.status, resp.text, extra)
    return resp
