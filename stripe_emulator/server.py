"""App factory: the API app (port 12111), the control app (port 12112) and their middlewares."""

import asyncio
import logging
import time

from aiohttp import web

from stripe_emulator import (charges, control, customers, disputes, events, payment_intents, payment_methods, refunds,
                             saved_cards, search, setup_intents, stripejs, tax_calculations, tax_transactions,
                             three_d_secure)
from stripe_emulator.auth import authenticate
from stripe_emulator.core import Config, Emulator
from stripe_emulator.errors import StripeError, api_error, invalid
from stripe_emulator.faults import FaultRegistry, fault_middleware, latency_middleware
from stripe_emulator.httputil import read_params
from stripe_emulator.idempotency import IdempotencyStore, error_response, idempotency_middleware
from stripe_emulator.ids import new_id
from stripe_emulator.versions import version_middleware
from stripe_emulator.webhooks import Dispatcher

log = logging.getLogger("stripe_emulator")

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key, Stripe-Version, Stripe-Account",
    "Access-Control-Expose-Headers": ("Request-Id, Idempotent-Replayed, Original-Request, Stripe-Should-Retry, "
                                      "Stripe-Version"),
    "Access-Control-Max-Age": "300",
}


@web.middleware
async def envelope_middleware(request, handler):
    """Request-Id, CORS, Stripe's error envelope, and the request log."""
    request_id = new_id("req", 15)
    request["request_id"] = request_id
    started = time.time()
    if request.method == "OPTIONS":
        resp = web.Response(status=204)
    else:
        try:
            resp = await handler(request)
        except StripeError as exc:
            resp = error_response(exc, request_id)
        except web.HTTPException as exc:
            if exc.status == 404 and request.path.startswith("/v1/"):
                resp = error_response(invalid(f"Unrecognized request URL ({request.method}: {request.path}). "
                                              "Please see https://stripe.com/docs or we can help at "
                                              "https://support.stripe.com/.", status=404), request_id)
            elif exc.status == 405 and request.path.startswith("/v1/"):
                resp = error_response(invalid(f"Unrecognized request URL ({request.method}: {request.path}).",
                                              status=404), request_id)
            else:
                raise
        except asyncio.CancelledError:
            _log(request, None, started)
            raise
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.path)
            resp = error_response(api_error(), request_id)
    resp.headers["Request-Id"] = request_id
    if request.app.get("cors"):  # the API, which Stripe.js calls from the shop's pages; never the control API
        resp.headers.update(CORS_HEADERS)
    _log(request, resp.status, started)
    return resp


def _log(request, status, started):
    if request.path.startswith(("/v3", "/_emulator")):
        return
    request.app["emu"].store.request_log.append({
        "id": request["request_id"], "method": request.method, "path": request.path, "status": status,
        "idempotency_key": request.headers.get("Idempotency-Key"), "replayed": request.get("replayed", False),
        "fault": request.get("fault"), "time": started, "duration_ms": round((time.time() - started) * 1000, 2),
    })


@web.middleware
async def outage_middleware(request, handler):
    """During an outage, connections still open from before are cut too."""
    if request.app["handle"].api_down and not request.path.startswith("/_emulator"):
        request["fault"] = "outage"
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError()
    return await handler(request)


@web.middleware
async def auth_middleware(request, handler):
    if request.path.startswith("/v1/") and request.method != "OPTIONS":
        params_key = None
        if "Authorization" not in request.headers:
            params_key = (await read_params(request)).get("key")
        request["auth"] = authenticate(request, request.app["emu"].config, params_key)
    return await handler(request)


class Handle:
    """The running servers; the outage switch stops and restarts the API listener."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.api_down = False
        self.api_runner = None
        self.api_site = None
        self.control_runner = None

    async def start(self):
        cfg = self.emu.config
        self.api_runner = web.AppRunner(make_api_app(self.emu, self), access_log=None, shutdown_timeout=1)
        await self.api_runner.setup()
        self.api_site = web.TCPSite(self.api_runner, cfg.host, cfg.port, reuse_address=True)
        await self.api_site.start()
        self.control_runner = web.AppRunner(make_control_app(self.emu, self), access_log=None, shutdown_timeout=1)
        await self.control_runner.setup()
        await web.TCPSite(self.control_runner, cfg.control_host, cfg.control_port, reuse_address=True).start()
        await self.emu.webhooks.start()

    async def set_api_down(self, down: bool):
        if down and not self.api_down:
            self.api_down = True
            await self.api_site.stop()
        elif not down and self.api_down:
            cfg = self.emu.config
            self.api_site = web.TCPSite(self.api_runner, cfg.host, cfg.port, reuse_address=True)
            await self.api_site.start()
            self.api_down = False

    async def stop(self):
        await self.emu.webhooks.close()
        if self.control_runner:
            await self.control_runner.cleanup()
        if self.api_runner:
            await self.api_runner.cleanup()


def build_emulator(config: Config) -> Emulator:
    emu = Emulator(config)
    Dispatcher(emu)
    FaultRegistry(emu)
    IdempotencyStore(emu, cap=max(config.max_objects * 5, 1000))
    for spec in config.faults:
        emu.faults.add(spec)
    control.register_cli_endpoint(emu)
    return emu


def _base_app(emu, handle, middlewares):
    app = web.Application(middlewares=middlewares, client_max_size=1024 * 1024)
    app["emu"] = emu
    app["handle"] = handle
    app["public_origin"] = f"http://{emu.config.host}:{emu.config.port}"
    return app


def make_api_app(emu, handle):
    app = _base_app(emu, handle, [envelope_middleware, version_middleware, outage_middleware, fault_middleware,
                                  auth_middleware, idempotency_middleware, latency_middleware])
    for module in (search, payment_methods, payment_intents, three_d_secure, charges, refunds, disputes, events,
                   customers, saved_cards, setup_intents, tax_calculations, tax_transactions):
        app.add_routes(module.routes)
    app.add_routes(stripejs.routes)
    app["cors"] = True
    return app


def make_control_app(emu, handle):
    """Faults, outages, the webhook secret: on their own port only, bound to --control-host (localhost by
    default), never where browsers or shoppers can reach them."""
    app = _base_app(emu, handle, [envelope_middleware])
    app.add_routes(control.routes)
    return app


