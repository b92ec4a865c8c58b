"""Injected API faults: latency, 5xx, 429 (rate limit / lock timeout), hangs, dropped connections.

A fault matches a request by ``route`` ("*", "POST /v1/payment_intents", or an
fnmatch pattern such as "POST /v1/payment_intents/*/confirm"), fires with
probability ``rate`` (the emulator's seeded RNG) and, with ``count``, only for
the next N matching requests. With ``after: true`` the request is executed
first and the fault replaces its answer (a lost response).
"""

import asyncio
import itertools
from fnmatch import fnmatchcase

from aiohttp import web

from stripe_emulator.errors import StripeError, invalid

FIELDS = {"route", "latency_ms", "status", "rate", "rate_limit", "should_retry", "lock_timeout", "hang",
          "drop", "count", "after", "caller"}
CALLERS = {"any", "server", "browser"}  # server: a secret key in Authorization; browser: a publishable `key`
HANG_LIMIT_SECONDS = 600


class FaultRegistry:
    def __init__(self, emu):
        emu.faults = self
        self.emu = emu
        self.faults: list = []
        self._ids = itertools.count(1)

    def add(self, spec: dict) -> dict:
        unknown = set(spec) - FIELDS
        if unknown:
            raise invalid(f"Unknown fault field(s): {', '.join(sorted(unknown))}")
        status = spec.get("status")
        if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
            raise invalid("status must be an HTTP error status such as 500, 502 or 503.", param="status")
        caller = spec.get("caller", "any")
        if caller not in CALLERS:
            raise invalid("caller must be any, server or browser.", param="caller")
        rate = float(spec.get("rate", 1.0))
        if not 0 <= rate <= 1:
            raise invalid("rate must be between 0 and 1.", param="rate")
        fault = {
            "id": f"fault_{next(self._ids)}", "route": spec.get("route", "*"),
            "latency_ms": int(spec.get("latency_ms") or 0), "status": status, "rate": rate,
            "rate_limit": bool(spec.get("rate_limit")), "should_retry": spec.get("should_retry"),
            "lock_timeout": bool(spec.get("lock_timeout")), "hang": bool(spec.get("hang")),
            "drop": bool(spec.get("drop")), "count": spec.get("count"), "after": bool(spec.get("after")),
            "caller": caller, "applied": 0,
        }
        self.faults.append(fault)
        return fault

    def remove(self, fault_id) -> bool:
        before = len(self.faults)
        self.faults = [f for f in self.faults if f["id"] != fault_id]
        return len(self.faults) != before

    def clear(self):
        self.faults = []

    def take(self, method, path, caller="server"):
        target = f"{method} {path}"
        for fault in self.faults:
            route = fault["route"]
            if route != "*" and not fnmatchcase(target, route) and not fnmatchcase(path, route):
                continue
            if fault["caller"] not in ("any", caller):
                continue
            if fault["count"] is not None and fault["applied"] >= fault["count"]:
                continue
            if fault["rate"] < 1 and self.emu.rng.random() >= fault["rate"]:
                continue
            fault["applied"] += 1
            return fault
        return None


def parse_cli_fault(text: str) -> dict:
    """``'POST /v1/payment_intents:status=503,rate=0.5'`` -> fault spec."""
    route, _, options = text.rpartition(":") if ":" in text else (text, "", "")
    spec = {"route": route.strip() or "*"}
    for item in filter(None, (part.strip() for part in options.split(","))):
        name, _, value = item.partition("=")
        value = value or "true"
        if value in ("true", "false"):
            spec[name] = value == "true"
        elif value == "null":
            spec[name] = None
        else:
            spec[name] = float(value) if "." in value else int(value)
    return spec


def _should_retry_headers(fault):
    if fault["should_retry"] is None:
        return {}
    return {"Stripe-Should-Retry": "true" if fault["should_retry"] else "false"}


async def _hang(request):
    request["fault"] = "hang"
    for _ in range(HANG_LIMIT_SECONDS * 10):
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(0.1)
    raise asyncio.CancelledError()


def _drop(request):
    request["fault"] = "drop"
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError()


def _error_for(fault):
    headers = _should_retry_headers(fault)
    if fault["lock_timeout"]:
        return StripeError(429, "rate_limit_error",
                           "This object cannot be accessed right now because another API request or Stripe "
                           "process is currently accessing it. If you see this error intermittently, retry the "
                           "request.", code="lock_timeout", headers=headers, store=False)
    if fault["rate_limit"]:
        return StripeError(429, "rate_limit_error",
                           "Too many requests hit the API too quickly. We recommend an exponential backoff of "
                           "your requests.", code="rate_limit", headers=headers, store=False)
    if fault["status"]:
        return StripeError(fault["status"], "api_error",
                           "An unknown error occurred (injected by the emulator).", headers=headers, store=False)
    return None


@web.middleware
async def fault_middleware(request, handler):
    if not request.path.startswith("/v1/") or request.method == "OPTIONS":
        return await handler(request)
    caller = "server" if request.headers.get("Authorization") else "browser"
    fault = request.app["emu"].faults.take(request.method, request.path, caller)
    if fault is None:
        return await handler(request)
    request["fault"] = fault["id"]
    error = _error_for(fault)
    cuts_short = error is not None or fault["hang"] or fault["drop"]
    if cuts_short and not fault["after"]:
        if fault["latency_ms"]:
            await asyncio.sleep(fault["latency_ms"] / 1000)
    else:
        request["fault_latency"] = fault["latency_ms"] / 1000
    response = await handler(request) if fault["after"] or not cuts_short else None
    if fault["hang"]:
        await _hang(request)
    if fault["drop"]:
        _drop(request)
    if error is not None:
        raise error
    return response


@web.middleware
async def latency_middleware(request, handler):
    """Innermost: injected latency counts as execution time (an idempotency key is in flight)."""
    delay = request.get("fault_latency")
    if delay:
        await asyncio.sleep(delay)
    return await handler(request)
