"""PaymentIntent routes and lifecycle: create, confirm, 3DS, capture, cancel, update, list."""

from aiohttp import web

from stripe_emulator import objects
from stripe_emulator.core import snapshot
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.httputil import created_filter, expand, paginate, read_params, respond
from stripe_emulator.params import boolean, check_known, integer, metadata, require, string
from stripe_emulator.payment_methods import card_of, pm_from_alias_or_id

routes = web.RouteTableDef()

EXPANDABLE = {"latest_charge": "charge", "payment_method": "payment_method"}
AUTH_FAILURE_MESSAGE = ("We are unable to authenticate your payment method. Please choose a different "
                        "payment method and try again.")
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
              "processing")
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

CONFIRM_PARAMS = {"confirmation_token", "payment_method", "return_url", "receipt_email", "shipping",
                  "setup_future_usage", "use_stripe_sdk", "payment_method_options", "payment_method_types",
                  "mandate_data", "off_session", "error_on_requires_action", "capture_method",
                  "payment_method_data", "radar_options", "client_secret", "key"}
CREATE_PARAMS = CONFIRM_PARAMS | {
    "amount", "currency", "confirm", "metadata", "automatic_payment_methods", "capture_method",
    "description", "statement_descriptor", "statement_descriptor_suffix", "customer", "confirmation_method",
    "transfer_group", "on_behalf_of", "application_fee_amount", "excluded_payment_method_types",
    "payment_method_configuration", "transfer_data", "amount_details", "idempotency_key"} - {"client_secret", "key"}
UPDATE_PARAMS = {"amount", "currency", "metadata", "description", "receipt_email", "shipping", "payment_method",
                 "capture_method", "setup_future_usage", "statement_descriptor", "statement_descriptor_suffix",
                 "payment_method_options", "payment_method_types", "transfer_group", "customer",
                 "application_fee_amount", "excluded_payment_method_types", "payment_method_configuration",
                 "amount_details"}


def _pi_table(request):
    return request.app["emu"].store["payment_intent"]


def _load(request, params=None):
    pi = _pi_table(request).require(request.match_info["id"])
    if request.get("auth") == "publishable":
        secret = (params or {}).get("client_secret") or request.query.get("client_secret")
        if secret != pi["client_secret"]:
            raise invalid(f"No such payment_intent: '{pi['id']}'", code="resource_missing", status=404,
                          param="intent")
    return pi


def _amount(params, name="amount"):
    amount = integer(params, name)
    if amount is None:
        raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    if amount < 1:
        raise invalid("This value must be greater than or equal to 1.", code="parameter_invalid_integer",
                      param=name)
    if amount > 99999999:
        raise invalid("Amount must be no more than $999,999.99", code="amount_too_large", param=name)
    return amount


def _check_minimum(amount, currency):
    if currency == "usd" and amount < 50:
        raise invalid("Amount must be at least $0.50 usd", code="amount_too_small", param="amount")


def _currency(params):
    currency = str(require(params, "currency")).lower()
    if len(currency) != 3 or not currency.isalpha():
        raise invalid(f"Invalid currency: {currency}.", code="parameter_invalid_string", param="currency")
    return currency


def _capture_method(params, default):
    value = params.get("capture_method") or default
    if value not in ("automatic", "automatic_async", "manual"):
        raise invalid(f"Invalid capture_method: must be one of automatic, automatic_async, or manual",
                      code="parameter_invalid_string", param="capture_method")
    return value


def _apply_common(pi, params):
    for name in ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
                 "setup_future_usage", "transfer_group", "customer"):
        if name in params:
            pi[name] = string(params, name)
    if "shipping" in params:
        pi["shipping"] = params["shipping"] or None
    if "metadata" in params:
        pi["metadata"] = metadata(params, pi["metadata"])
    if isinstance(params.get("payment_method_types"), list):
        pi["payment_method_types"] = params["payment_method_types"]


def _payment_method_for_confirm(emu, params, pi):
    token_id = params.get("confirmation_token")
    if token_id:
        token = emu.store["confirmation_token"].require(token_id, "confirmation_token")
        pm = emu.store["payment_method"].get(emu.store["confirmation_token"].meta.get(token_id))
        if pm is None:
            raise invalid(f"No such confirmation_token: '{token_id}'", code="resource_missing",
                          param="confirmation_token", status=404, store=True)
        token["payment_intent"] = pi["id"]
        return pm
    if params.get("payment_method"):
        return pm_from_alias_or_id(emu, params["payment_method"])
    if pi["payment_method"]:
        return pm_from_alias_or_id(emu, pi["payment_method"])
    raise invalid("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm "
                  "the PaymentIntent with a confirmation token, pass `confirmation_token` or a payment method "
                  "with `payment_method`.", code="payment_intent_unexpected_state", param="payment_method",
                  store=True)


def confirm(emu, pi, params, request):
    """Run the payment: 3DS if the card asks for it, then charge. Raises 402 on decline."""
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        if pi["status"] == "succeeded":
            message = "You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed."
        else:
            message = f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}."
        raise StripeError(400, "invalid_request_error", message, code="payment_intent_unexpected_state",
                          payment_intent=snapshot(pi))
    pm = _payment_method_for_confirm(emu, params, pi)
    _apply_common(pi, {k: v for k, v in params.items() if k in ("receipt_email", "shipping", "setup_future_usage")})
    if params.get("capture_method"):
        pi["capture_method"] = _capture_method(params, pi["capture_method"])
    pi["payment_method"] = pm["id"]
    pi["last_payment_error"] = None
    card = card_of(emu, pm)
    if card.three_ds:
        if boolean(params, "error_on_requires_action") or boolean(params, "off_session"):
            _fail(emu, pi, pm, request, card.decline or ("authentication_required", "authentication_required",
                  "Your card was declined. This transaction requires authentication."), charge_card=card)
            _raise_decline(pi)
        pi["status"] = "requires_action"
        base = request.app["public_origin"]
        pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {
            "type": "three_d_secure_redirect", "source": pm["id"],
            "stripe_js": f"{base}/v3/three-d-secure.html?payment_intent={pi['id']}",
            "directory_server_name": card.brand, "three_d_secure_2_source": pm["id"]}}
        emu.emit("payment_intent.requires_action", pi, request)
        return pi
    charge(emu, pi, pm, card, request, three_ds=False)
    if pi["status"] == "requires_payment_method":
        _raise_decline(pi)
    return pi


def charge(emu, pi, pm, card, request, three_ds):
    """Create the Charge for an authenticated payment and move the PaymentIntent on."""
    pi["next_action"] = None
    if card.decline:
        _fail(emu, pi, pm, request, card.decline, charge_card=card, three_ds=three_ds)
        return
    manual = pi["capture_method"] == "manual"
    ch = objects.charge(pi, pm, card, status="succeeded", captured=not manual, three_ds=three_ds)
    emu.store["charge"].add(ch, meta=card)
    pi["latest_charge"] = ch["id"]
    emu.emit("charge.succeeded", ch, request)
    if manual:
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
        emu.emit("payment_intent.amount_capturable_updated", pi, request)
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        emu.emit("payment_intent.succeeded", pi, request)


def _fail(emu, pi, pm, request, decline, charge_card, three_ds=False):
    ch = objects.charge(pi, pm, charge_card, status="failed", captured=False, failure=decline,
                        outcome_type=charge_card.outcome_type, three_ds=three_ds)
    emu.store["charge"].add(ch, meta=charge_card)
    emu.emit("charge.failed", ch, request)
    code, decline_code, message = decline
    pi.update(status="requires_payment_method", latest_charge=ch["id"], payment_method=None, next_action=None)
    pi["last_payment_error"] = {
        "type": "card_error", "code": code, "decline_code": decline_code, "message": message,
        "charge": ch["id"], "advice_code": ch["outcome"]["advice_code"],
        "doc_url": "https://stripe.com/docs/error-codes/" + code.replace("_", "-"), "payment_method": pm,
    }
    emu.emit("payment_intent.payment_failed", pi, request)


def authentication_failed(emu, pi, request):
    pm = emu.store["payment_method"].get(pi["payment_method"])
    pi.update(status="requires_payment_method", payment_method=None, next_action=None)
    pi["last_payment_error"] = {
        "type": "invalid_request_error", "code": "payment_intent_authentication_failure",
        "message": AUTH_FAILURE_MESSAGE, "payment_method": pm,
        "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
    }
    emu.emit("payment_intent.payment_failed", pi, request)


def _raise_decline(pi):
    lpe = pi["last_payment_error"]
    extra = {"charge": lpe["charge"], "payment_method": lpe["payment_method"]}
    if lpe.get("advice_code"):
        extra["advice_code"] = lpe["advice_code"]
    raise StripeError(402, "card_error", lpe["message"], code=lpe["code"], decline_code=lpe["decline_code"],
                      payment_intent=snapshot(pi), extra=extra)


def _out(request, pi, params):
    return respond(expand(pi, params, request.app["emu"], EXPANDABLE))


@routes.post("/v1/payment_intents")
async def create(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CREATE_PARAMS)
    amount = _amount(params)
    currency = _currency(params)
    _check_minimum(amount, currency)
    do_confirm = boolean(params, "confirm")
    if not do_confirm:
        for name in ("confirmation_token", "return_url", "error_on_requires_action", "off_session"):
            if params.get(name):
                raise invalid(f"You may only specify `{name}` when `confirm=true`.", param=name)
    pi = objects.payment_intent(amount, currency, capture_method=_capture_method(params, "automatic_async"))
    if isinstance(params.get("automatic_payment_methods"), dict):
        apm = params["automatic_payment_methods"]
        pi["automatic_payment_methods"] = {"allow_redirects": apm.get("allow_redirects", "always"),
                                           "enabled": boolean(apm, "enabled")}
    _apply_common(pi, params)
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
    pi = _load(request, params)
    confirm(emu, pi, params, request)
    return _out(request, pi, params)


@routes.get("/v1/payment_intents/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, {"client_secret", "key"})
    return _out(request, _load(request, params), params)


@routes.post("/v1/payment_intents/{id}")
async def update(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, UPDATE_PARAMS)
    pi = _load(request)
    if pi["status"] not in UPDATABLE:
        raise invalid(f"This PaymentIntent's status is {pi['status']} and cannot be updated.",
                      code="payment_intent_unexpected_state", store=True)
    if "amount" in params:
        pi["amount"] = _amount(params)
    if "currency" in params:
        pi["currency"] = _currency(params)
    _check_minimum(pi["amount"], pi["currency"])
    if "capture_method" in params:
        pi["capture_method"] = _capture_method(params, pi["capture_method"])
    _apply_common(pi, params)
    if params.get("payment_method"):
        pi["payment_method"] = pm_from_alias_or_id(emu, params["payment_method"])["id"]
        pi["status"] = "requires_confirmation"
    return _out(request, pi, params)


@routes.post("/v1/payment_intents/{id}/cancel")
async def cancel(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"cancellation_reason"})
    pi = _load(request)
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
            ch.update(amount_refunded=ch["amount"], refunded=True)
            emu.emit("charge.refunded", ch, request)
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
    pi = _load(request)
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
    _apply_common(pi, params)
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
    return respond(paginate(_pi_table(request).newest_first(), params, "/v1/payment_intents", keep))


@routes.post("/v1/three_d_secure/{id}/challenge")
async def three_d_secure(request):
    """The 3DS challenge page posts the shopper's choice here (publishable key + client_secret)."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"client_secret", "result", "key"})
    pi = _load(request, params)
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
