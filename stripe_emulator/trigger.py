"""``stripe-emulator trigger <event>``: make the emulator produce an event by doing what produces it,
as the Stripe CLI's fixtures do (``payment_intent.succeeded`` creates and confirms a PaymentIntent with
``pm_card_visa``)."""

import argparse
import sys
import time

from stripe_emulator.http_client import ApiError, call

PAYMENT = {"amount": "2000", "currency": "usd", "payment_method_types": ["card"],
           "description": "(created by stripe-emulator trigger)"}


def _pay(card, **extra):
    return ("payment_intent", "POST", "/v1/payment_intents",
            dict(PAYMENT, confirm="true", payment_method=card, **extra))


CREATE = ("payment_intent", "POST", "/v1/payment_intents", PAYMENT)
DECLINED = ("payment_intent", "POST", "/v1/payment_intents",
            dict(PAYMENT, confirm="true", payment_method="pm_card_chargeDeclined"), "declined")
REFUND = ("refund", "POST", "/v1/refunds", {"payment_intent": "{payment_intent}"})
DISPUTE = ("dispute", "GET", "/v1/disputes", {"payment_intent": "{payment_intent}"}, "first")

# Each step: (name, method, path, params[, how]); "{name}" in a path or value is an earlier step's id.
# how: "declined" expects a 402 card error; "first" waits for a list to hold an object and takes it.
FIXTURES = {
    "payment_intent.created": [CREATE],
    "payment_intent.succeeded": [_pay("pm_card_visa")],
    "payment_intent.payment_failed": [DECLINED],
    "payment_intent.canceled": [CREATE, ("payment_intent", "POST", "/v1/payment_intents/{payment_intent}/cancel",
                                         {})],
    "payment_intent.requires_action": [_pay("pm_card_threeDSecure2Required", return_url="https://example.com/")],
    "payment_intent.amount_capturable_updated": [_pay("pm_card_visa", capture_method="manual")],
    "charge.succeeded": [_pay("pm_card_visa")],
    "charge.failed": [DECLINED],
    "charge.captured": [_pay("pm_card_visa", capture_method="manual"),
                        ("payment_intent", "POST", "/v1/payment_intents/{payment_intent}/capture", {})],
    "charge.refunded": [_pay("pm_card_visa"), REFUND],
    "refund.created": [_pay("pm_card_visa"), REFUND],
    "refund.updated": [_pay("pm_card_pendingRefund"), REFUND],
    "refund.failed": [_pay("pm_card_refundFail"), REFUND],
    "charge.dispute.created": [_pay("pm_card_createDispute")],
    "charge.dispute.funds_withdrawn": [_pay("pm_card_createDispute")],
    "charge.dispute.updated": [_pay("pm_card_createDispute"), DISPUTE,
                               ("dispute", "POST", "/v1/disputes/{dispute}",
                                {"evidence": {"uncategorized_text": "evidence from stripe-emulator trigger"}})],
    "charge.dispute.closed": [_pay("pm_card_createDispute"), DISPUTE,
                              ("dispute", "POST", "/v1/disputes/{dispute}/close", {})],
    "charge.dispute.funds_reinstated": [_pay("pm_card_createDispute"), DISPUTE,
                                        ("dispute", "POST", "/v1/disputes/{dispute}",
                                         {"evidence": {"uncategorized_text": "winning_evidence"}})],
}


def _fill(value, ids):
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, ids) for item in value]
    return value.format(**ids) if isinstance(value, str) else value


def _override(params, name, overrides):
    """``--override payment_intent:amount=5000`` (nested keys as ``a.b``), as the Stripe CLI."""
    params = dict(params)
    for item in overrides:
        target, _, assignment = item.partition(":")
        key, _, value = assignment.partition("=")
        if target == name and key:
            *parents, last = key.split(".")
            level = params
            for parent in parents:
                level[parent] = level = dict(level.get(parent) or {})
            level[last] = value
    return params


def _run_step(step, ids, args):
    name, method, path, params, *how = step
    params = _override(_fill(params, ids), name, args.override)
    url = args.api_base.rstrip("/") + _fill(path, ids)
    try:
        obj = call(method, url, api_key=args.api_key, form=params)
    except ApiError as exc:
        error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
        if how != ["declined"] or exc.status != 402:
            raise
        obj = error["payment_intent"]
    if how == ["first"]:
        deadline = time.monotonic() + 10
        while not obj["data"] and time.monotonic() < deadline:
            time.sleep(0.05)
            obj = call(method, url, api_key=args.api_key, form=params)
        if not obj["data"]:
            raise ApiError(404, {"error": {"message": f"no {name} appeared within 10 s"}})
        obj = obj["data"][0]
    ids[name] = obj["id"]
    status = f" ({obj['status']})" if "status" in obj else ""
    print(f"  {method} {_fill(path, ids)} -> {obj['id']}{status}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stripe-emulator trigger",
                                description="Trigger an event by creating the objects that produce it.")
    p.add_argument("event", help="one of: " + ", ".join(sorted(FIXTURES)))
    p.add_argument("--api-base", default="http://127.0.0.1:12111")
    p.add_argument("--api-key", default="sk_test_emulator")
    p.add_argument("--override", action="append", default=[], metavar="RESOURCE:PARAM=VALUE")
    args = p.parse_args(argv)
    steps = FIXTURES.get(args.event)
    if steps is None:
        print(f"event {args.event} is not supported; supported events: {', '.join(sorted(FIXTURES))}",
              file=sys.stderr)
        return 1
    ids = {}
    names = list(dict.fromkeys(step[0] for step in steps))
    for name in names:
        print(f"Setting up fixture for: {name}", flush=True)
    try:
        for step in steps:
            print(f"Running fixture for: {step[0]}", flush=True)
            _run_step(step, ids, args)
    except (ApiError, OSError) as exc:
        print(f"Trigger failed: {exc}", file=sys.stderr)
        return 1
    print("Trigger succeeded! Check GET /v1/events (or a listener) for event details.", flush=True)
    return 0
