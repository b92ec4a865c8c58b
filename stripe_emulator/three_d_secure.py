"""The 3-D Secure challenge result, posted by the challenge page (publishable key + client_secret)."""

from aiohttp import web

from stripe_emulator.confirming import authentication_failed, charge
from stripe_emulator.core import snapshot
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.httputil import read_params, respond
from stripe_emulator.params import check_known, require
from stripe_emulator.payment_intents import load_intent
from stripe_emulator.payment_methods import card_of

routes = web.RouteTableDef()


@routes.post("/v1/three_d_secure/{id}/challenge")
async def three_d_secure(request):
    """The 3DS challenge page posts the shopper's choice here (publishable key + client_secret)."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"client_secret", "result", "key"})
    pi = load_intent(request, params)
    if request.get("auth") != "publishable" and params.get("client_secret") not in (None, pi["client_secret"]):
        raise invalid("Invalid client_secret.", param="client_secret")
    result = require(params, "result")
    if result not in ("complete", "fail"):
        raise invalid("result must be 'complete' or 'fail'.", code="parameter_invalid_string", param="result")
    if pi["status"] != "requires_action":
        raise StripeError(400, "invalid_request_error",
                          f"This PaymentIntent has a status of {pi['status']} and does not need authentication.",
                          code="payment_intent_unexpected_state", payment_intent=snapshot(pi))
    if result == "fail":
        authentication_failed(emu, pi, request)
    else:
        pm = emu.store["payment_method"].require(pi["payment_method"])
        charge(emu, pi, pm, card_of(emu, pm), request, three_ds=True)
    return respond(pi)
