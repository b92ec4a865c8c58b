"""SetupIntents: save a card for later payments (create, confirm, 3-D Secure, retrieve, update, cancel, list).

Confirming checks the card as Stripe's zero-amount setup does: 3DS cards ask for authentication first;
cards that decline for a reason other than missing funds fail (``setup_intent.setup_failed``, 402); on
success the card is attached to the SetupIntent's customer and set up for off-session payments.
"""

from aiohttp import web

from stripe_emulator.core import snapshot
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.httputil import created_filter, paginate, read_params, respond
from stripe_emulator.ids import new_id, now
from stripe_emulator.next_actions import three_ds_next_action
from stripe_emulator.params import boolean, check_known, metadata, string
from stripe_emulator.payment_methods import card_of, pm_from_alias_or_id
from stripe_emulator.saved_cards import check_owner, save_for_later
from stripe_emulator.customers import live_customer

routes = web.RouteTableDef()

CONFIRM_PARAMS = {"payment_method", "confirmation_token", "return_url", "use_stripe_sdk", "mandate_data",
                  "payment_method_options", "payment_method_data", "client_secret", "key"}
CREATE_PARAMS = (CONFIRM_PARAMS | {"customer", "confirm", "usage", "metadata", "description",
                                   "payment_method_types", "automatic_payment_methods", "attach_to_self",
                                   "flow_directions", "on_behalf_of", "payment_method_configuration",
                                   "excluded_payment_method_types", "single_use"}) - {"client_secret", "key"}
UPDATE_PARAMS = {"customer", "metadata", "description", "payment_method", "payment_method_types",
                 "payment_method_options", "attach_to_self", "flow_directions", "payment_method_configuration",
                 "excluded_payment_method_types"}
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
# Stripe documents that this card attaches to a customer and only its charges fail.
ATTACHES_THEN_FAILS = "4000000000000341"


def setup_intent(usage):
    si_id = new_id("seti")
    return {
        "id": si_id, "object": "setup_intent", "application": None, "automatic_payment_methods": None,
        "cancellation_reason": None, "client_secret": si_id + "_secret_" + new_id("x")[4:], "created": now(),
        "customer": None, "description": None, "excluded_payment_method_types": None, "flow_directions": None,
        "last_setup_error": None, "latest_attempt": None, "livemode": False, "mandate": None, "metadata": {},
        "next_action": None, "on_behalf_of": None, "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "single_use_mandate": None, "status": "requires_payment_method",
        "usage": usage,
    }


def load_intent(request, params=None):
    si = request.app["emu"].store["setup_intent"].require(request.match_info["id"])
    if request.get("auth") == "publishable":
        secret = (params or {}).get("client_secret") or request.query.get("client_secret")
        if secret != si["client_secret"]:
            raise invalid(f"No such setupintent: '{si['id']}'", code="resource_missing", status=404, param="intent")
    return si


def _apply(emu, si, params):
    for name in ("description",):
        if name in params:
            si[name] = string(params, name)
    if "customer" in params:
        si["customer"] = string(params, "customer")
        if si["customer"]:
            live_customer(emu, si["customer"])
    if "metadata" in params:
        si["metadata"] = metadata(params, si["metadata"])
    if isinstance(params.get("payment_method_types"), list):
        si["payment_method_types"] = params["payment_method_types"]
    if params.get("payment_method"):
        si["payment_method"] = pm_from_alias_or_id(emu, params["payment_method"])["id"]
        si["status"] = "requires_confirmation"


def _unexpected(si, action):
    return StripeError(400, "invalid_request_error",
                       f"You cannot {action} this SetupIntent because it has a status of {si['status']}.",
                       code="setup_intent_unexpected_state", extra={"setup_intent": snapshot(si)})


def _payment_method(emu, si, params):
    token_id = params.get("confirmation_token")
    if token_id:
        tokens = emu.store["confirmation_token"]
        token = tokens.require(token_id, "confirmation_token")
        if token["payment_intent"] is not None or token["setup_intent"] not in (None, si["id"]):
            raise invalid(f"This ConfirmationToken ('{token_id}') has already been used.",
                          param="confirmation_token", store=True)
        pm = emu.store["payment_method"].require(tokens.meta.get(token_id), "confirmation_token")
        token["setup_intent"] = si["id"]
        return pm
    pm_id = params.get("payment_method") or si["payment_method"]
    if not pm_id:
        raise invalid("You cannot confirm this SetupIntent because it's missing a payment method.",
                      code="setup_intent_unexpected_state", param="payment_method", store=True)
    return pm_from_alias_or_id(emu, pm_id)


def _succeed(emu, si, pm, request):
    if si["customer"]:  # first: a customer deleted meanwhile is a 404 that leaves the SetupIntent as it was
        save_for_later(emu, si["customer"], pm, request)
    si.update(status="succeeded", next_action=None, payment_method=pm["id"], latest_attempt=new_id("setatt"))
    emu.emit("setup_intent.succeeded", si, request)


def _fail(emu, si, pm, request, error):
    si.update(status="requires_payment_method", next_action=None, payment_method=None,
              latest_attempt=new_id("setatt"), last_setup_error=dict(error, payment_method=pm))
    emu.emit("setup_intent.setup_failed", si, request)


def _check_card(emu, si, pm, request):
    """The zero-amount check of a set-up card: declines stop it, except for missing funds."""
    card = card_of(emu, pm)
    if card.decline and card.decline[1] != "insufficient_funds" and card.number != ATTACHES_THEN_FAILS:
        code, decline_code, message = card.decline
        _fail(emu, si, pm, request, {"type": "card_error", "code": code, "decline_code": decline_code,
                                     "message": message,
                                     "doc_url": "https://stripe.com/docs/error-codes/" + code.replace("_", "-")})
        raise StripeError(402, "card_error", message, code=code, decline_code=decline_code,
                          extra={"setup_intent": snapshot(si), "payment_method": pm})
    _succeed(emu, si, pm, request)


def confirm(emu, si, params, request):
    if si["status"] not in CONFIRMABLE:
        raise _unexpected(si, "confirm")
    pm = _payment_method(emu, si, params)
    check_owner(emu, pm, si["customer"])
    si.update(payment_method=pm["id"], last_setup_error=None)
    card = card_of(emu, pm)
    if card.three_ds:
        si["next_action"] = three_ds_next_action(request, si, pm, card, params)
        si["status"] = "requires_action"
        emu.emit("setup_intent.requires_action", si, request)
        return
    _check_card(emu, si, pm, request)


def finish_authentication(emu, si, completed, request):
    """The shopper completed or failed the 3DS challenge of a SetupIntent."""
    if si["status"] != "requires_action":
        raise _unexpected(si, "authenticate")
    pm = emu.store["payment_method"].require(si["payment_method"])
    if not completed:
        _fail(emu, si, pm, request, {
            "type": "invalid_request_error", "code": "setup_intent_authentication_failure",
            "message": "We are unable to authenticate your payment method. Please choose a different payment "
                       "method and try again.",
            "doc_url": "https://stripe.com/docs/error-codes/setup-intent-authentication-failure"})
        return
    try:
        _check_card(emu, si, pm, request)
    except StripeError:
        pass  # the SetupIntent records the decline; the challenge page itself succeeded


@routes.post("/v1/setup_intents")
async def create(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CREATE_PARAMS)
    do_confirm = boolean(params, "confirm")
    if not do_confirm:
        for name in ("confirmation_token", "return_url"):
            if params.get(name):
                raise invalid(f"You may only specify `{name}` when `confirm=true`.", param=name)
    usage = params.get("usage") or "off_session"
    if usage not in ("on_session", "off_session"):
        raise invalid("Invalid usage: must be one of on_session or off_session", code="parameter_invalid_string",
                      param="usage")
    si = setup_intent(usage)
    if isinstance(params.get("automatic_payment_methods"), dict):
        apm = params["automatic_payment_methods"]
        si["automatic_payment_methods"] = {"allow_redirects": apm.get("allow_redirects", "always"),
                                           "enabled": boolean(apm, "enabled")}
    _apply(emu, si, params)
    emu.store["setup_intent"].add(si)
    emu.emit("setup_intent.created", si, request)
    if do_confirm:
        confirm(emu, si, params, request)
    return respond(si)


@routes.get("/v1/setup_intents/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, {"client_secret", "key"})
    return respond(load_intent(request, params))


@routes.post("/v1/setup_intents/{id}")
async def update(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, UPDATE_PARAMS)
    si = load_intent(request)
    if si["status"] not in CONFIRMABLE:
        raise _unexpected(si, "update")
    _apply(emu, si, params)
    return respond(si)


@routes.post("/v1/setup_intents/{id}/confirm")
async def confirm_route(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CONFIRM_PARAMS)
    si = load_intent(request, params)
    confirm(emu, si, params, request)
    return respond(si)


@routes.post("/v1/setup_intents/{id}/cancel")
async def cancel(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"cancellation_reason"})
    si = load_intent(request)
    if si["status"] not in CONFIRMABLE:
        raise _unexpected(si, "cancel")
    reason = params.get("cancellation_reason")
    if reason and reason not in ("abandoned", "duplicate", "requested_by_customer"):
        raise invalid(f"Invalid cancellation_reason: {reason}", code="parameter_invalid_string",
                      param="cancellation_reason")
    si.update(status="canceled", cancellation_reason=reason, next_action=None)
    emu.emit("setup_intent.canceled", si, request)
    return respond(si)


@routes.get("/v1/setup_intents")
async def list_route(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "customer", "payment_method",
                         "attach_to_self"})
    customer, pm_id = params.get("customer"), params.get("payment_method")
    by_created = created_filter(params)

    def keep(si):
        return by_created(si) and customer in (None, si["customer"]) and pm_id in (None, si["payment_method"])
    return respond(paginate(request.app["emu"].store["setup_intent"].newest_first(), params, "/v1/setup_intents",
                            keep))
