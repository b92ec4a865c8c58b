"""The control API under /_emulator/ (on the control port only): reset, faults, outage, logs, stats."""

import json

from aiohttp import web

from stripe_emulator import bank_debits, tax_transactions
from stripe_emulator.errors import invalid
from stripe_emulator.events import register_endpoint
from stripe_emulator.ids import now

routes = web.RouteTableDef()

WEBHOOK_FAULT_MODES = ("drop", "duplicate", "delay", "reorder")


async def _json(request) -> dict:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise invalid("Control API bodies are JSON.")
    if not isinstance(body, dict):
        raise invalid("Control API bodies are JSON objects.")
    return body


def register_cli_endpoint(emu):
    cfg = emu.config
    if cfg.webhook_url:
        we, _ = register_endpoint(emu, cfg.webhook_url, list(cfg.webhook_events), secret=cfg.webhook_secret,
                                  description="registered by --webhook-url")
        cfg.webhook_secret = emu.store["webhook_endpoint"].meta[we["id"]]


@routes.get("/_emulator/health")
async def health(request):
    return web.json_response({"ok": True, "api_down": request.app["handle"].api_down})


@routes.post("/_emulator/reset")
async def reset(request):
    emu = request.app["emu"]
    emu.store.reset()
    emu.faults.clear()
    emu.webhooks.reset()
    emu.idempotency.reset()
    emu.debits.clear()
    emu.debit_settle_seconds = emu.config.debit_settle_seconds
    emu.tax_calculation_validity = None
    emu.seed(emu.config.seed)
    register_cli_endpoint(emu)
    return web.json_response({"reset": True})


@routes.post("/_emulator/seed")
async def seed(request):
    body = await _json(request)
    request.app["emu"].seed(body.get("seed", 0))
    return web.json_response({"seed": body.get("seed", 0)})


@routes.post("/_emulator/faults")
async def add_fault(request):
    fault = request.app["emu"].faults.add(await _json(request))
    return web.json_response(fault)


@routes.get("/_emulator/faults")
async def list_faults(request):
    return web.json_response({"data": request.app["emu"].faults.faults})


@routes.delete("/_emulator/faults")
async def clear_faults(request):
    request.app["emu"].faults.clear()
    return web.json_response({"deleted": True})


@routes.delete("/_emulator/faults/{id}")
async def delete_fault(request):
    if not request.app["emu"].faults.remove(request.match_info["id"]):
        raise invalid(f"No such fault: '{request.match_info['id']}'", status=404)
    return web.json_response({"id": request.match_info["id"], "deleted": True})


@routes.post("/_emulator/webhook_faults")
async def add_webhook_fault(request):
    body = await _json(request)
    mode = body.get("mode")
    if mode not in WEBHOOK_FAULT_MODES:
        raise invalid(f"mode must be one of {', '.join(WEBHOOK_FAULT_MODES)}")
    dispatcher = request.app["emu"].webhooks
    fault = {"id": f"whfault_{len(dispatcher.faults) + 1}", "mode": mode, "n": int(body.get("n", 2)),
             "delay_ms": int(body.get("delay_ms", 500)), "rate": float(body.get("rate", 1.0)),
             "count": body.get("count"), "applied": 0}
    dispatcher.faults.append(fault)
    return web.json_response(fault)


@routes.get("/_emulator/webhook_faults")
async def list_webhook_faults(request):
    return web.json_response({"data": request.app["emu"].webhooks.faults})


@routes.delete("/_emulator/webhook_faults")
async def clear_webhook_faults(request):
    dispatcher = request.app["emu"].webhooks
    dispatcher.faults.clear()
    dispatcher.flush_held()
    return web.json_response({"deleted": True})


@routes.post("/_emulator/outage")
async def outage(request):
    body = await _json(request)
    handle = request.app["handle"]
    await handle.set_api_down(bool(body.get("down", True)))
    return web.json_response({"api_down": handle.api_down})


@routes.get("/_emulator/requests")
async def request_log(request):
    path = request.query.get("path")
    method = request.query.get("method")
    entries = [e for e in request.app["emu"].store.request_log
               if (path is None or e["path"].startswith(path)) and (method is None or e["method"] == method)]
    return web.json_response({"data": entries})


@routes.get("/_emulator/webhook_attempts")
async def webhook_attempts(request):
    event_id = request.query.get("event")
    event_type = request.query.get("type")
    entries = [a for a in request.app["emu"].store.webhook_attempts
               if (event_id is None or a["event"] == event_id) and (event_type is None or a["type"] == event_type)]
    return web.json_response({"data": entries})


@routes.get("/_emulator/debits")
async def list_debits(request):
    emu = request.app["emu"]
    return web.json_response({"processing": sorted(emu.debits), "settle_after": emu.debit_settle_seconds})


@routes.post("/_emulator/debits")
async def set_debit_delay(request):
    """{"settle_after": seconds}: how long later bank debits stay processing."""
    body = await _json(request)
    try:
        seconds = float(body.get("settle_after"))
    except (TypeError, ValueError):
        raise invalid("settle_after is a number of seconds")
    if not 0 <= seconds <= 86400:
        raise invalid("settle_after is between 0 and 86400 seconds")
    request.app["emu"].debit_settle_seconds = seconds
    return web.json_response({"settle_after": seconds})


@routes.post("/_emulator/debits/settle")
async def settle_debits(request):
    """The bank answers now: the named PaymentIntent's debit ({"payment_intent": id}), or every processing one."""
    emu = request.app["emu"]
    body = await _json(request)
    wanted = body.get("payment_intent")
    if wanted is not None and wanted not in emu.debits:
        raise invalid(f"No processing bank debit for payment_intent '{wanted}'", status=404)
    settled = [pi_id for pi_id in ([wanted] if wanted else sorted(emu.debits)) if bank_debits.settle(emu, pi_id)]
    return web.json_response({"settled": settled})


@routes.post("/_emulator/tax/calculations/{id}/expire")
async def expire_tax_calculation(request):
    """The calculation expires now: a transaction can no longer be created from it."""
    calc = request.app["emu"].store["tax_calculation"].require(request.match_info["id"], "calculation")
    calc["expires_at"] = now() - 1
    return web.json_response({"id": calc["id"], "expires_at": calc["expires_at"]})


@routes.post("/_emulator/tax")
async def set_tax_validity(request):
    """{"calculation_validity": seconds}: how long tax calculations made from now on last (Stripe: 90 days)."""
    body = await _json(request)
    seconds = body.get("calculation_validity")
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 90 * 24 * 3600:
        raise invalid("calculation_validity is a whole number of seconds, from 1 to 90 days")
    request.app["emu"].tax_calculation_validity = seconds
    return web.json_response({"calculation_validity": seconds})


@routes.get("/_emulator/tax/transactions")
async def list_tax_transactions(request):
    """Recorded tax transactions and reversals, oldest first (``?reference=`` picks one reference)."""
    return web.json_response({"data": tax_transactions.recorded(request.app["emu"], request.query.get("reference"))})


@routes.get("/_emulator/stats")
async def stats(request):
    emu = request.app["emu"]
    body = emu.store.stats()
    body["idempotency_keys"] = len(emu.idempotency.entries)
    body["webhook_deliveries_in_flight"] = len(emu.webhooks.tasks)
    body["requests_logged"] = len(emu.store.request_log)
    return web.json_response(body)


@routes.get("/_emulator/webhook_secret")
async def webhook_secret(request):
    emu = request.app["emu"]
    return web.json_response({"secret": emu.config.webhook_secret})
