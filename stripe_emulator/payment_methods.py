"""PaymentMethods and ConfirmationTokens: card data in, tokens and ``pm_`` objects out."""

import datetime

from aiohttp import web

from stripe_emulator import bank_debits, cards, objects, shipping
from stripe_emulator.errors import StripeError, invalid, no_such
from stripe_emulator.httputil import read_params, respond
from stripe_emulator.params import check_known, metadata, require

routes = web.RouteTableDef()


def card_error(code, message, param):
    return StripeError(402, "card_error", message, code=code, param=param, store=False)


def pm_from_card_data(emu, data: dict, billing=None, meta=None):
    """Validate raw card fields as Stripe does and store a new PaymentMethod."""
    number = str(data.get("number") or "").replace(" ", "")
    if not number:
        raise invalid("Missing required param: payment_method_data[card][number].", code="parameter_missing",
                      param="payment_method_data[card][number]")
    if not number.isdigit() or not 13 <= len(number) <= 19 or not cards.luhn_ok(number):
        raise card_error("incorrect_number", "Your card number is incorrect.", "number")
    try:
        exp_month, exp_year = int(data.get("exp_month")), int(data.get("exp_year"))
    except (TypeError, ValueError):
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    if exp_year < 100:
        exp_year += 2000
    if not 1 <= exp_month <= 12:
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    today = datetime.date.today()
    if (exp_year, exp_month) < (today.year, today.month):
        raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year")
    cvc = str(data.get("cvc") or "")
    if cvc and (not cvc.isdigit() or len(cvc) not in (3, 4)):
        raise card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
    card = cards.lookup(number)
    pm = objects.payment_method(card, exp_month, exp_year, billing, meta)
    return emu.store["payment_method"].add(pm, meta=card)


def pm_from_alias_or_id(emu, pm_id, param="payment_method"):
    """``pm_card_visa`` style aliases make a fresh PaymentMethod, as Stripe does."""
    if isinstance(pm_id, str) and pm_id in cards.PM_ALIASES:
        card = cards.CARDS[cards.PM_ALIASES[pm_id]]
        pm = objects.payment_method(card, 12, datetime.date.today().year + 1)
        return emu.store["payment_method"].add(pm, meta=card)
    pm = emu.store["payment_method"].get(pm_id) if isinstance(pm_id, str) else None
    if pm is None:
        raise no_such("PaymentMethod", pm_id, param)
    return pm


def card_of(emu, pm) -> cards.Card:
    meta = emu.store["payment_method"].meta.get(pm["id"])
    return meta if isinstance(meta, cards.Card) else cards.lookup("4242424242424242")


def _pm_from_data(emu, pmd):
    if not isinstance(pmd, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param="payment_method_data")
    kind = pmd.get("type", "card")
    if kind not in ("card", "us_bank_account"):
        raise invalid("The emulator supports card and us_bank_account PaymentMethods.",
                      param="payment_method_data[type]")
    card = pmd.get("card") or {}
    billing = pmd.get("billing_details") or {}
    if kind == "us_bank_account":
        return _bank_pm(emu, pmd, billing)
    address = billing.get("address") if isinstance(billing, dict) else None
    if not isinstance(card, dict) or not isinstance(billing, dict) or not isinstance(address or {}, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param="payment_method_data")
    postal = (billing.get("address") or {}).get("postal_code")
    return pm_from_card_data(emu, card, objects.billing_details(postal, billing), metadata(pmd))


def _bank_pm(emu, pmd, billing):
    bank = pmd.get("us_bank_account") or {}
    address = billing.get("address") if isinstance(billing, dict) else None
    if not isinstance(bank, dict) or not isinstance(billing, dict) or not isinstance(address or {}, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param="payment_method_data")
    pm = bank_debits.payment_method(bank, objects.billing_details(None, billing), metadata(pmd))
    return emu.store["payment_method"].add(pm, meta=str(bank.get("account_number")).strip())


def _make_token(emu, pm, params, token_shipping):
    token = objects.confirmation_token(pm, params.get("return_url"), token_shipping, params.get("setup_future_usage"))
    return emu.store["confirmation_token"].add(token, meta=pm["id"])


def _pm_from_token(emu, card, params):
    """``card[token]=tok_visa``: a PaymentMethod for one of Stripe's test tokens."""
    token = card["token"]
    if set(card) != {"token"}:
        raise invalid("You cannot pass card details together with card[token].", param="card[token]")
    number = cards.TOKENS.get(token) if isinstance(token, str) else None
    if number is None:
        raise invalid(f"No such token: '{token}'", code="resource_missing", param="card[token]")
    billing = params.get("billing_details") or {}
    if not isinstance(billing, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param="billing_details")
    postal = (billing.get("address") or {}).get("postal_code") if isinstance(billing.get("address"), dict) else None
    card_info = cards.CARDS[number]
    pm = objects.payment_method(card_info, 12, datetime.date.today().year + 1,
                                objects.billing_details(postal, billing), metadata(params))
    return emu.store["payment_method"].add(pm, meta=card_info)


CT_PARAMS = {"payment_method_data", "payment_method", "return_url", "shipping", "setup_future_usage",
             "payment_method_options", "mandate_data", "key", "client_context", "payment_method_types",
             "_stripe_version"}


@routes.post("/v1/confirmation_tokens")
async def create_confirmation_token(request):
    """Browser route (publishable key): the Payment Element iframe sends the card fields."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CT_PARAMS)
    token_shipping = shipping.parse(params.get("shipping"), for_token=True)
    if params.get("payment_method"):
        pm = pm_from_alias_or_id(emu, params["payment_method"])
    else:
        pm = _pm_from_data(emu, require(params, "payment_method_data"))
    return respond(_make_token(emu, pm, params, token_shipping))


@routes.post("/v1/test_helpers/confirmation_tokens")
async def create_test_confirmation_token(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CT_PARAMS)
    token_shipping = shipping.parse(params.get("shipping"), for_token=True)
    if params.get("payment_method"):
        pm = pm_from_alias_or_id(emu, params["payment_method"])
    elif params.get("payment_method_data"):
        pm = _pm_from_data(emu, params["payment_method_data"])
    else:
        pm = pm_from_alias_or_id(emu, "pm_card_visa")
    return respond(_make_token(emu, pm, params, token_shipping))


@routes.get("/v1/confirmation_tokens/{id}")
async def get_confirmation_token(request):
    emu = request.app["emu"]
    await read_params(request)
    return respond(emu.store["confirmation_token"].require(request.match_info["id"]))


@routes.get("/v1/payment_methods/{id}")
async def get_payment_method(request):
    emu = request.app["emu"]
    await read_params(request)
    pm = emu.store["payment_method"].get(request.match_info["id"])
    if pm is None:
        raise no_such("PaymentMethod", request.match_info["id"])
    return respond(pm)


@routes.post("/v1/payment_methods")
async def create_payment_method(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"type", "card", "us_bank_account", "billing_details", "metadata", "key",
                         "payment_method_data"})
    if require(params, "type") not in ("card", "us_bank_account"):
        raise invalid("The emulator supports card and us_bank_account PaymentMethods.", param="type")
    card = params.get("card")
    if isinstance(card, dict) and "token" in card:
        return respond(_pm_from_token(emu, card, params))
    return respond(_pm_from_data(emu, {"type": params["type"], "card": params.get("card") or {},
                                       "us_bank_account": params.get("us_bank_account") or {},
                                       "billing_details": params.get("billing_details") or {},
                                       "metadata": params.get("metadata")}))
