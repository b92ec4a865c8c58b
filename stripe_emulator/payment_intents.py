"""PaymentIntent routes: create, confirm, retrieve, update, cancel, capture, list."""

from aiohttp import web

from stripe_emulator import expand as expansion, objects
from stripe_emulator.confirming import confirm
from stripe_emulator.core import snapshot
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.httputil import created_filter, expand, paginate, read_params, respond
from stripe_emulator.intent_params import (CANCELABLE, CREATE_PARAMS, CONFIRM_PARAMS, UPDATABLE,
                                           UPDATABLE_IN_ANY_STATUS, UPDATE_PARAMS, amount_param, apply_common,
                                           capture_method_param, check_minimum, check_strings, currency_param)
from stripe_emulator.params import boolean, check_known, expand_list, integer
from stripe_emulator.payment_methods import pm_from_alias_or_id
from stripe_emulator.saved_cards import check_customer_params

routes = web.RouteTableDef()

EXPANDABLE = {"latest_charge": "charge", "payment_method": "payment_method"}


def _pi_table(request):
    return request.app["emu"].store["payment_intent"]


def load_intent(request, params=None):
    pi = _pi_table(request).require(request.match_info["id"], "intent")
    if request.get("auth") == "publishable":
        secret = (params or {}).get("client_secret") or request.query.get("client_secret")
        if secret != pi["client_secret"]:
            raise invalid(f"No such payment_intent: '{pi['id']}'", code="resource_missing", status=404,
                          param="intent")
    return pi


def _out(request, pi, params):
    return respond(expand(pi, params, request.app["emu"], EXPANDABLE))


@routes.post("/v1/payment_intents")
async def create(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CREATE_PARAMS)
    expansion.check(expand_list(params), "payment_intent")
    amount = amount_param(params)
    currency = currency_param(params)
    check_minimum(amount, currency)
    do_confirm = boolean(params, "confirm")
    if not do_confirm:
        for name in ("confirmation_token", "return_url", "error_on_requires_action", "off_session"):
            if params.get(name):
                raise invalid(f"You may only specify `{name}` when `confirm=true`.", param=name)
    pi = objects.payment_intent(amount, currency, capture_method=capture_method_param(params, "automatic_async"))
    if isinstance(params.get("automatic_payment_methods"), dict):
        apm = params["automatic_payment_methods"]
        pi["automatic_payment_methods"] = {"allow_redirects": apm.get("allow_redirects", "always"),
                                           "enabled": boolean(apm, "enabled")}
        if pi["automatic_payment_methods"]["enabled"] and currency == "usd":  # a Dashboard with ACH turned on
            pi["payment_method_types"] = ["card", "us_bank_account"]
    check_customer_params(emu, params)
    apply_common(pi, params)
    if params.get("payment_method") and not do_confirm:
        pi["payment_method"] = pm_from_alias_or_id(emu, params["payment_method"])["id"]
        pi["status"] = "requires_confirmation"
    emu.store["payment_intent"].add(pi)
    emu.emit("payment_intent.created", pi, request)
    if do_confirm:
        confirm(emu, pi, params, request)
    return _out(request, pi, params)


@routes.post("/v1/payment_intents/{id}/confirm")
async def confirm_route(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CONFIRM_PARAMS)
    expansion.check(expand_list(params), "payment_intent")
    pi = load_intent(request, params)
    confirm(emu, pi, params, request)
    return _out(request, pi, params)


@routes.get("/v1/payment_intents/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, {"client_secret", "key"})
    return _out(request, load_intent(request, params), params)


@routes.post("/v1/payment_intents/{id}")
async def update(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, UPDATE_PARAMS)
    expansion.check(expand_list(params), "payment_intent")
    pi = load_intent(request)
    restricted = sorted(set(params) - UPDATABLE_IN_ANY_STATUS)
    if pi["status"] not in UPDATABLE and restricted:
        raise invalid(f"You cannot update `{restricted[0]}` on a PaymentIntent with a status of {pi['status']}. "
                      f"In this status only {', '.join(sorted(UPDATABLE_IN_ANY_STATUS - {'expand'}))} may be "
                      "updated.", code="payment_intent_unexpected_state", param=restricted[0], store=True)
    check_strings(params)
    amount = amount_param(params) if "amount" in params else pi["amount"]
    currency = currency_param(params) if "currency" in params else pi["currency"]
    if "amount" in params or "currency" in params:
        check_minimum(amount, currency)
    pi.update(amount=amount, currency=currency)
    if "capture_method" in params:
        pi["capture_method"] = capture_method_param(params, pi["capture_method"])
    check_customer_params(emu, params)
    apply_common(pi, params)
    if params.get("payment_method"):
        pi["payment_method"] = pm_from_alias_or_id(emu, params["payment_method"])["id"]
        pi["status"] = "requires_confirmation"
    return _out(request, pi, params)


@routes.post("/v1/payment_intents/{id}/cancel")
async def cancel(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"cancellation_reason"})
    expansion.check(expand_list(params), "payment_intent")
    pi = load_intent(request)
    if pi["status"] not in CANCELABLE:
        raise StripeError(400, "invalid_request_error",
                          f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}. "
                          f"Only a PaymentIntent with one of the following statuses may be canceled: "
                          f"{', '.join(CANCELABLE)}.", code="payment_intent_unexpected_state",
                          payment_intent=snapshot(pi))
    reason = params.get("cancellation_reason")
    if reason and reason not in ("duplicate", "fraudulent", "requested_by_customer", "abandoned"):
        raise invalid(f"Invalid cancellation_reason: {reason}", code="parameter_invalid_string",
                      param="cancellation_reason")
    if pi["status"] == "requires_capture":
        ch = emu.store["charge"].get(pi["latest_charge"])
        if ch:
            previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
            ch.update(amount_refunded=ch["amount"], refunded=True)
            emu.emit("charge.refunded", ch, request, previous=previous)
        pi["amount_capturable"] = 0
    pi.update(status="canceled", canceled_at=objects.now(), cancellation_reason=reason, next_action=None)
    emu.emit("payment_intent.canceled", pi, request)
    return _out(request, pi, params)


@routes.post("/v1/payment_intents/{id}/capture")
async def capture(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"amount_to_capture", "metadata", "statement_descriptor", "statement_descriptor_suffix",
                         "final_capture", "application_fee_amount", "transfer_data"})
    expansion.check(expand_list(params), "payment_intent")
    pi = load_intent(request)
    if pi["status"] != "requires_capture":
        raise StripeError(400, "invalid_request_error",
                          f"This PaymentIntent could not be captured because it has a status of {pi['status']}. "
                          f"Only a PaymentIntent with one of the following statuses may be captured: "
                          f"requires_capture.", code="payment_intent_unexpected_state",
                          payment_intent=snapshot(pi))
    amount = integer(params, "amount_to_capture", pi["amount_capturable"], minimum=1)
    if amount > pi["amount_capturable"]:
        raise invalid("The amount to capture is greater than the amount capturable.",
                      code="amount_too_large", param="amount_to_capture")
    apply_common(pi, params)
    ch = emu.store["charge"].require(pi["latest_charge"])
    ch.update(captured=True, amount_captured=amount, amount_refunded=ch["amount"] - amount,
              refunded=False, balance_transaction=objects.new_id("txn"))
    emu.emit("charge.captured", ch, request)
    pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
    emu.emit("payment_intent.succeeded", pi, request)
    return _out(request, pi, params)


@routes.get("/v1/payment_intents")
async def list_route(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "customer"})
    customer = params.get("customer")
    by_created = created_filter(params)

    def keep(pi):
        return by_created(pi) and (customer is None or pi["customer"] == customer)
    page = paginate(_pi_table(request).newest_first(), params, "/v1/payment_intents", keep)
    return respond(expand(page, params, request.app["emu"]))
