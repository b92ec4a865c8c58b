"""Disputes: the dispute test cards' chargebacks and inquiries, evidence, closing, and Stripe's test evidence.

A payment with a dispute test card succeeds; a moment later its charge is disputed (`charge.dispute.created`,
then `charge.dispute.funds_withdrawn` for a chargeback; an inquiry withdraws nothing). Submitting evidence moves
the dispute under review (`charge.dispute.updated`); as on Stripe, evidence whose `uncategorized_text` is
`winning_evidence` or `losing_evidence` closes it a moment later as won (funds reinstated) or lost
(`charge.dispute.closed`). `POST /v1/disputes/{id}/close` accepts the dispute: it is lost at once.
"""

import asyncio

from aiohttp import web

from stripe_emulator.errors import invalid
from stripe_emulator.httputil import created_filter, expand, paginate, read_params, respond
from stripe_emulator.ids import new_id, now
from stripe_emulator.params import boolean, check_known, metadata

routes = web.RouteTableDef()

OPEN_SECONDS = 0.2  # from the charge to its dispute, and from the test evidence to the dispute's close
EVIDENCE_DAYS = 7  # Stripe gives 7 to 21 days; the shortest is the one to plan for
EVIDENCE_FIELDS = ("access_activity_log", "billing_address", "cancellation_policy_disclosure",
                   "cancellation_rebuttal", "customer_communication", "customer_email_address", "customer_name",
                   "customer_purchase_ip", "duplicate_charge_explanation", "duplicate_charge_id",
                   "product_description", "refund_policy_disclosure", "refund_refusal_explanation", "service_date",
                   "shipping_address", "shipping_carrier", "shipping_date", "shipping_tracking_number",
                   "uncategorized_text")
EXPANDABLE = {"charge": "charge", "payment_intent": "payment_intent"}


def dispute(ch, reason, inquiry):
    return {
        "id": new_id("dp"), "object": "dispute", "amount": ch["amount"], "balance_transactions": [],
        "charge": ch["id"], "created": now(), "currency": ch["currency"],
        "evidence": {field: None for field in EVIDENCE_FIELDS},
        "evidence_details": {"due_by": now() + EVIDENCE_DAYS * 86400, "has_evidence": False, "past_due": False,
                             "submission_count": 0},
        "is_charge_refundable": False, "livemode": False, "metadata": {}, "payment_intent": ch["payment_intent"],
        "payment_method_details": {"card": {"brand": ch["payment_method_details"]["card"]["brand"],
                                            "case_type": "inquiry" if inquiry else "chargeback"}, "type": "card"},
        "reason": reason, "status": "warning_needs_response" if inquiry else "needs_response",
    }


def _balance_transaction(dp, sign, description):
    return {"id": new_id("txn"), "object": "balance_transaction", "amount": sign * dp["amount"],
            "currency": dp["currency"], "created": now(), "description": description, "fee": 1500 if sign < 0 else 0,
            "net": sign * dp["amount"] - (1500 if sign < 0 else 0), "reporting_category": "dispute",
            "status": "available", "type": "adjustment"}


def open_dispute(emu, ch, card):
    """Called when a dispute test card's payment succeeds: the charge is disputed a moment later."""
    async def later():
        await asyncio.sleep(OPEN_SECONDS)
        inquiry = card.dispute == "inquiry"
        dp = dispute(ch, "fraudulent" if inquiry else card.dispute, inquiry)
        emu.store["dispute"].add(dp)
        ch["disputed"] = True
        emu.emit("charge.dispute.created", dp)
        if not inquiry:
            dp["balance_transactions"] = [_balance_transaction(dp, -1, f"Chargeback withdrawal for {ch['id']}")]
            emu.emit("charge.dispute.funds_withdrawn", dp)
    emu.webhooks.track(later())


def _close(emu, dp, won):
    inquiry = dp["status"].startswith("warning_")
    previous = {"status": dp["status"]}
    dp["status"] = ("warning_closed" if inquiry else "won") if won else "lost"
    emu.emit("charge.dispute.closed", dp, previous=previous)
    if won and not inquiry:
        dp["balance_transactions"] = dp["balance_transactions"] + [
            _balance_transaction(dp, +1, f"Chargeback reversal for {dp['charge']}")]
        emu.emit("charge.dispute.funds_reinstated", dp)


def _require_open(dp):
    if dp["status"] not in ("needs_response", "warning_needs_response"):
        raise invalid(f"This dispute is already {dp['status']} and cannot be updated.",
                      code="dispute_already_closed" if dp["status"] in ("won", "lost", "warning_closed")
                      else "dispute_evidence_submitted", store=True)


@routes.get("/v1/disputes/{id}")
async def get_dispute(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    return respond(expand(emu.store["dispute"].require(request.match_info["id"]), params, emu, EXPANDABLE))


@routes.get("/v1/disputes")
async def list_disputes(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "charge", "payment_intent"})
    by_created = created_filter(params)
    ch_id, pi_id = params.get("charge"), params.get("payment_intent")

    def keep(dp):
        return by_created(dp) and (ch_id is None or dp["charge"] == ch_id) and (
            pi_id is None or dp["payment_intent"] == pi_id)
    page = paginate(request.app["emu"].store["dispute"].newest_first(), params, "/v1/disputes", keep)
    return respond(expand(page, params, request.app["emu"]))


@routes.post("/v1/disputes/{id}")
async def update_dispute(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"evidence", "metadata", "submit"})
    dp = emu.store["dispute"].require(request.match_info["id"])
    evidence = params.get("evidence") or {}
    if not isinstance(evidence, dict):
        raise invalid("Invalid evidence: must be a hash of evidence fields.", param="evidence")
    unknown = sorted(set(evidence) - set(EVIDENCE_FIELDS))
    if unknown:
        raise invalid(f"Received unknown parameter: evidence[{unknown[0]}]", code="parameter_unknown",
                      param=f"evidence[{unknown[0]}]")
    if evidence or params.get("submit") is not None:
        _require_open(dp)
    dp["metadata"] = metadata(params, dp["metadata"])
    if evidence:
        dp["evidence"] = dict(dp["evidence"], **{field: str(value) for field, value in evidence.items()})
        dp["evidence_details"] = dict(dp["evidence_details"], has_evidence=True)
    if boolean(params, "submit", default=True) and (evidence or params.get("submit") is not None):
        previous = {"status": dp["status"]}
        dp["status"] = "warning_under_review" if dp["status"].startswith("warning_") else "under_review"
        dp["evidence_details"] = dict(dp["evidence_details"],
                                      submission_count=dp["evidence_details"]["submission_count"] + 1)
        emu.emit("charge.dispute.updated", dp, request, previous=previous)
        text = dp["evidence"].get("uncategorized_text") or ""
        if text in ("winning_evidence", "losing_evidence"):
            async def decide():
                await asyncio.sleep(OPEN_SECONDS)
                _close(emu, dp, won=text == "winning_evidence")
            emu.webhooks.track(decide())
    return respond(dp)


@routes.post("/v1/disputes/{id}/close")
async def close_dispute(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    dp = emu.store["dispute"].require(request.match_info["id"])
    _require_open(dp)
    _close(emu, dp, won=False)
    return respond(dp)


