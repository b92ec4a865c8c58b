"""Saved cards: attaching PaymentMethods to Customers, detaching, listing and updating them, and what a
customer's saved card changes about a payment (``customer``, ``setup_future_usage``, ``off_session``).

A customer's private table entry (``store["customer"].meta``) holds the ids of the cards set up for
off-session use: saved by a SetupIntent or by a payment with ``setup_future_usage``. Stripe's
4000002500003155 needs no authentication off-session once set up; other 3DS cards still do.
"""

import datetime

from aiohttp import web

from stripe_emulator.customers import attach_payment_method, live_customer
from stripe_emulator.errors import invalid, no_such
from stripe_emulator.httputil import paginate, read_params, respond
from stripe_emulator.objects import billing_details
from stripe_emulator.params import boolean, check_known, integer, metadata, require

routes = web.RouteTableDef()

SETUP_FUTURE_USAGE = ("on_session", "off_session")


def check_customer_params(emu, params):
    """Validate ``customer`` and ``setup_future_usage`` for a PaymentIntent before anything changes."""
    if params.get("customer"):
        live_customer(emu, params["customer"])
    usage = params.get("setup_future_usage")
    if usage not in (None, "") and usage not in SETUP_FUTURE_USAGE:
        raise invalid(f"Invalid setup_future_usage: must be one of {', '.join(SETUP_FUTURE_USAGE)}",
                      code="parameter_invalid_string", param="setup_future_usage")


def check_owner(emu, pm, customer_id):
    """A saved card pays only with its own customer, as on Stripe."""
    if pm["customer"] is not None and pm["customer"] != customer_id:
        raise invalid(f"The provided PaymentMethod ({pm['id']}) is attached to a Customer ({pm['customer']}); "
                      f"pass that Customer as `customer` to use it.", param="payment_method", store=True)


def save_for_later(emu, cus_id, pm, request):
    """After a payment with ``setup_future_usage`` or a SetupIntent: attach the card and remember it is set up."""
    cus = live_customer(emu, cus_id)
    attach_payment_method(emu, pm, cus, request)
    emu.store["customer"].meta.setdefault(cus_id, set()).add(pm["id"])


def after_payment(emu, pi, pm, request):
    """The payment went through: a card meant for later is saved, unless its customer is gone by now."""
    cus = emu.store["customer"].get(pi["customer"]) if pi["customer"] else None
    if pi["setup_future_usage"] and cus is not None and not cus.get("deleted") and \
            pm["customer"] in (None, cus["id"]):
        save_for_later(emu, cus["id"], pm, request)


def skips_authentication(emu, pi, pm, card, params) -> bool:
    """An off-session payment with a card set up for it, of a kind that then needs no authentication."""
    return (card.setup_covers_off_session and boolean(params, "off_session") and pi["customer"] is not None
            and pm["id"] in emu.store["customer"].meta.get(pi["customer"], ()))


def _pm(emu, pm_id, param="payment_method"):
    pm = emu.store["payment_method"].get(pm_id)
    if pm is None:
        raise no_such("PaymentMethod", pm_id, param)
    return pm


@routes.post("/v1/payment_methods/{id}/attach")
async def attach(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"customer"})
    pm = _pm(emu, request.match_info["id"], "id")
    cus = live_customer(emu, require(params, "customer"))
    return respond(attach_payment_method(emu, pm, cus, request))


@routes.post("/v1/payment_methods/{id}/detach")
async def detach(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    pm = _pm(emu, request.match_info["id"], "id")
    if pm["customer"] is None:
        raise invalid("The payment method you provided is not attached to a customer so detachment is impossible.",
                      param="payment_method", store=True)
    cus = emu.store["customer"].get(pm["customer"])
    emu.store["customer"].meta.get(pm["customer"], set()).discard(pm["id"])
    if cus is not None and not cus.get("deleted") and \
            cus["invoice_settings"]["default_payment_method"] == pm["id"]:
        cus["invoice_settings"] = dict(cus["invoice_settings"], default_payment_method=None)
    pm["customer"] = None
    emu.emit("payment_method.detached", pm, request, previous={"customer": cus["id"] if cus else None})
    return respond(pm)


@routes.post("/v1/payment_methods/{id}")
async def update(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"billing_details", "metadata", "card", "allow_redisplay"})
    pm = _pm(emu, request.match_info["id"], "id")
    if pm["customer"] is None:
        raise invalid("You must save this PaymentMethod to a customer before you can update it.",
                      param="payment_method", store=True)
    card = params.get("card")
    if card not in (None, ""):
        if not isinstance(card, dict) or set(card) - {"exp_month", "exp_year"}:
            raise invalid("Only card[exp_month] and card[exp_year] can be updated.", param="card")
        exp_month = integer(card, "exp_month", pm["card"]["exp_month"], minimum=1, maximum=12)
        exp_year = integer(card, "exp_year", pm["card"]["exp_year"], minimum=0)
        exp_year += 2000 if exp_year < 100 else 0
        today = datetime.date.today()
        if (exp_year, exp_month) < (today.year, today.month):
            raise invalid("Your card's expiration year is invalid.", code="invalid_expiry_year",
                          param="card[exp_year]")
    billing = params.get("billing_details")
    if billing not in (None, "") and not isinstance(billing, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param="billing_details")
    redisplay = params.get("allow_redisplay")
    if redisplay is not None and redisplay not in ("always", "limited", "unspecified"):
        raise invalid(f"Invalid allow_redisplay: {redisplay}", code="parameter_invalid_string",
                      param="allow_redisplay")
    before = dict(pm)
    if card not in (None, ""):
        pm["card"] = dict(pm["card"], exp_month=exp_month, exp_year=exp_year)
    if billing:
        merged = {key: pm["billing_details"][key] for key in ("email", "name", "phone")}
        merged.update({key: billing[key] for key in ("email", "name", "phone") if key in billing})
        merged["address"] = dict(pm["billing_details"]["address"], **(billing.get("address") or {}))
        pm["billing_details"] = billing_details(None, merged)
    if "metadata" in params:
        pm["metadata"] = metadata(params, pm["metadata"])
    if redisplay is not None:
        pm["allow_redisplay"] = redisplay
    previous = {key: before[key] for key in pm if pm[key] != before[key]}
    if previous:
        emu.emit("payment_method.updated", pm, request, previous=previous)
    return respond(pm)


def _list(request, params, customer_id, url):
    kind = params.get("type")
    if kind is not None and kind != "card":
        raise invalid("The emulator supports only card PaymentMethods.", param="type")

    def keep(pm):
        return customer_id is None or pm["customer"] == customer_id
    return respond(paginate(request.app["emu"].store["payment_method"].newest_first(), params, url, keep))


@routes.get("/v1/payment_methods")
async def list_route(request):
    params = await read_params(request)
    check_known(params, {"customer", "type", "limit", "starting_after", "ending_before"})
    customer_id = params.get("customer")
    if customer_id is not None:
        live_customer(request.app["emu"], customer_id)
    return _list(request, params, customer_id, "/v1/payment_methods")


@routes.get("/v1/customers/{customer}/payment_methods")
async def list_for_customer(request):
    params = await read_params(request)
    check_known(params, {"type", "limit", "starting_after", "ending_before", "allow_redisplay"})
    cus = live_customer(request.app["emu"], request.match_info["customer"])
    return _list(request, params, cus["id"], f"/v1/customers/{cus['id']}/payment_methods")


@routes.get("/v1/customers/{customer}/payment_methods/{id}")
async def retrieve_for_customer(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    cus = live_customer(emu, request.match_info["customer"])
    pm = emu.store["payment_method"].get(request.match_info["id"])
    if pm is None or pm["customer"] != cus["id"]:
        raise no_such("PaymentMethod", request.match_info["id"])
    return respond(pm)
