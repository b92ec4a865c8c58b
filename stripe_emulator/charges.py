"""Charge routes (read only: charges are made by confirming PaymentIntents)."""

from aiohttp import web

from stripe_emulator.httputil import created_filter, expand, paginate, read_params, respond
from stripe_emulator.params import check_known

routes = web.RouteTableDef()

EXPANDABLE = {"payment_intent": "payment_intent", "payment_method": "payment_method"}


@routes.get("/v1/charges/{id}")
async def get_charge(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    return respond(expand(emu.store["charge"].require(request.match_info["id"]), params, emu, EXPANDABLE))


@routes.get("/v1/charges")
async def list_charges(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "payment_intent", "customer"})
    pi_id = params.get("payment_intent")
    by_created = created_filter(params)

    def keep(ch):
        return by_created(ch) and (pi_id is None or ch["payment_intent"] == pi_id)
    page = paginate(request.app["emu"].store["charge"].newest_first(), params, "/v1/charges", keep)
    return respond(expand(page, params, request.app["emu"]))
