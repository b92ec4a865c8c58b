"""Refunds: full and partial, with the test cards' pending and failing refund outcomes."""

import asyncio

from aiohttp import web

from stripe_emulator import expand as expansion, objects
from stripe_emulator.errors import invalid
from stripe_emulator.httputil import created_filter, expand, paginate, read_params, respond
from stripe_emulator.params import check_known, expand_list, integer, metadata

routes = web.RouteTableDef()

SETTLE_SECONDS = 0.3  # how long a pending refund stays pending, or a failing refund stays succeeded
REASONS = ("duplicate", "fraudulent", "requested_by_customer")
EXPANDABLE = {"charge": "charge", "payment_intent": "payment_intent"}


def _find_charge(emu, params):
    if params.get("charge"):
        return emu.store["charge"].require(params["charge"], "charge")
    if params.get("payment_intent"):
        pi = emu.store["payment_intent"].require(params["payment_intent"], "payment_intent")
        ch = emu.store["charge"].get(pi["latest_charge"]) if pi["latest_charge"] else None
        if ch is None or pi["status"] != "succeeded":
            raise invalid(f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                          code="charge_not_refundable", param="payment_intent", store=True)
        return ch
    raise invalid("One of the following params should be provided for this request: payment_intent or charge.",
                  code="parameter_missing")


def _check_refundable(ch, amount):
    remaining = ch["amount_captured"] - ch["amount_refunded"]
    if ch["status"] != "succeeded" or not ch["captured"]:
        raise invalid(f"Charge {ch['id']} has not been captured or did not succeed.", code="charge_not_refundable",
                      param="charge", store=True)
    if remaining <= 0:
        raise invalid(f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded",
                      param="charge", store=True)
    if amount > remaining:
        raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                      code="amount_too_large", param="amount", store=True)


def _apply_to_charge(emu, ch, refund, sign, request):
    previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
    ch["amount_refunded"] += sign * refund["amount"]
    ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"] > 0
    if sign > 0:
        emu.emit("charge.refunded", ch, request, previous={k: v for k, v in previous.items() if ch[k] != v})


async def _settle(emu, refund, ch, outcome):
    await asyncio.sleep(SETTLE_SECONDS)
    if outcome == "pending":
        refund.update(status="succeeded", balance_transaction=objects.new_id("txn"))
        emu.emit("refund.updated", refund, previous={"status": "pending"})
    else:
        refund.update(status="failed", failure_reason="expired_or_canceled_card",
                      failure_balance_transaction=objects.new_id("txn"))
        _apply_to_charge(emu, ch, refund, -1, None)
        emu.emit("refund.failed", refund)
        emu.emit("refund.updated", refund, previous={"status": "succeeded"})


@routes.post("/v1/refunds")
async def create_refund(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"charge", "payment_intent", "amount", "reason", "metadata", "instructions_email",
                         "refund_application_fee", "reverse_transfer", "origin", "currency", "customer"})
    expansion.check(expand_list(params), "refund")
    ch = _find_charge(emu, params)
    amount = integer(params, "amount", ch["amount_captured"] - ch["amount_refunded"], minimum=1)
    reason = params.get("reason")
    if reason and reason not in REASONS:
        raise invalid(f"Invalid reason: must be one of {', '.join(REASONS)}", code="parameter_invalid_string",
                      param="reason")
    _check_refundable(ch, amount)
    outcome = getattr(emu.store["charge"].meta.get(ch["id"]), "refund", None)
    refund = objects.refund(ch, amount, "pending" if outcome == "pending" else "succeeded", reason,
                            metadata(params))
    emu.store["refund"].add(refund)
    emu.emit("refund.created", refund, request)
    _apply_to_charge(emu, ch, refund, +1, request)
    if outcome in ("pending", "fail"):
        emu.webhooks.track(_settle(emu, refund, ch, outcome))
    return respond(expand(refund, params, emu, EXPANDABLE))


@routes.get("/v1/refunds/{id}")
async def get_refund(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    return respond(expand(emu.store["refund"].require(request.match_info["id"]), params, emu, EXPANDABLE))


@routes.post("/v1/refunds/{id}")
async def update_refund(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"metadata"})
    refund = emu.store["refund"].require(request.match_info["id"])
    refund["metadata"] = metadata(params, refund["metadata"])
    return respond(refund)


@routes.get("/v1/refunds")
async def list_refunds(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "charge", "payment_intent"})
    by_created = created_filter(params)
    ch_id, pi_id = params.get("charge"), params.get("payment_intent")

    def keep(r):
        return by_created(r) and (ch_id is None or r["charge"] == ch_id) and (
            pi_id is None or r["payment_intent"] == pi_id)
    page = paginate(request.app["emu"].store["refund"].newest_first(), params, "/v1/refunds", keep)
    return respond(expand(page, params, request.app["emu"]))
