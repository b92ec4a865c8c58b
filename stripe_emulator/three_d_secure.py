"""The 3-D Secure challenge: the result posted by the challenge iframe (publishable key + client_secret), and
the test page a ``redirect_to_url`` next action sends the shopper to, which returns them to ``return_url``."""

import html
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from stripe_emulator import setup_intents
from stripe_emulator.confirming import authentication_failed, charge
from stripe_emulator.core import snapshot
from stripe_emulator.errors import StripeError, invalid, no_such
from stripe_emulator.httputil import read_params, respond
from stripe_emulator.params import check_known, require
from stripe_emulator.payment_intents import load_intent
from stripe_emulator.payment_methods import card_of

routes = web.RouteTableDef()

PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"


def _result(params):
    result = require(params, "result")
    if result not in ("complete", "fail"):
        raise invalid("result must be 'complete' or 'fail'.", code="parameter_invalid_string", param="result")
    return result


def _finish(emu, intent, result, request):
    """Apply the shopper's choice to a PaymentIntent or SetupIntent waiting for authentication."""
    if intent["object"] == "setup_intent":
        setup_intents.finish_authentication(emu, intent, result == "complete", request)
        return
    if intent["status"] != "requires_action":
        raise StripeError(400, "invalid_request_error",
                          f"This PaymentIntent has a status of {intent['status']} and does not need authentication.",
                          code="payment_intent_unexpected_state", payment_intent=snapshot(intent))
    if result == "fail":
        authentication_failed(emu, intent, request)
    else:
        pm = emu.store["payment_method"].require(intent["payment_method"])
        charge(emu, intent, pm, card_of(emu, pm), request, three_ds=True)


@routes.post("/v1/three_d_secure/{id}/challenge")
async def three_d_secure(request):
    """The 3DS challenge page posts the shopper's choice here (publishable key + client_secret)."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"client_secret", "result", "key"})
    if request.match_info["id"].startswith("seti_"):
        intent = setup_intents.load_intent(request, params)
    else:
        intent = load_intent(request, params)
    if request.get("auth") != "publishable" and params.get("client_secret") not in (None, intent["client_secret"]):
        raise invalid("Invalid client_secret.", param="client_secret")
    _finish(emu, intent, _result(params), request)
    return respond(intent)


def _redirect_target(emu, request, client_secret):
    intent_id = request.match_info["id"]
    kind = "setup_intent" if intent_id.startswith("seti_") else "payment_intent"
    intent = emu.store[kind].get(intent_id)
    return_url = emu.store[kind].meta.get(intent_id)
    if intent is None or return_url is None or client_secret != intent["client_secret"]:
        raise no_such(kind, intent_id)
    return intent, return_url


@routes.get("/redirect/authenticate/{id}")
async def redirect_page(request):
    """Where ``next_action.redirect_to_url.url`` points: Stripe's 3DS test page, Complete or Fail."""
    intent, _ = _redirect_target(request.app["emu"], request, request.query.get("client_secret"))
    secret = html.escape(intent["client_secret"])
    body = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>3D Secure test page</title>"
            "</head><body><h1>3D Secure test payment page</h1>"
            "<p>Complete or fail this test authentication.</p><form method=\"post\">"
            f"<input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">"
            "<button name=\"result\" value=\"complete\">Complete</button> "
            "<button name=\"result\" value=\"fail\">Fail</button></form></body></html>")
    return web.Response(text=body, content_type="text/html",
                        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"})


@routes.post("/redirect/authenticate/{id}")
async def redirect_choice(request):
    """Apply the choice, then send the browser back to ``return_url`` with the intent's id, client secret and
    ``redirect_status``, as Stripe does."""
    emu = request.app["emu"]
    params = await read_params(request)
    intent, return_url = _redirect_target(emu, request, params.get("client_secret"))
    result = _result(params)
    if intent["status"] == "requires_action":  # a second submit only sends the shopper back again
        _finish(emu, intent, result, request)
    kind = intent["object"]
    ok = ("succeeded", "requires_capture") if kind == "payment_intent" else ("succeeded",)
    status = "succeeded" if intent["status"] in ok else "processing" if intent["status"] == "processing" else "failed"
    parts = urlsplit(return_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + [
        (kind, intent["id"]), (f"{kind}_client_secret", intent["client_secret"]), ("redirect_status", status)]
    return web.Response(status=303, headers={"Location": urlunsplit(parts._replace(query=urlencode(query)))})
