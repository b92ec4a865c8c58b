"""Confirming a PaymentIntent: pick the payment method, run 3DS if needed, charge or decline."""

from stripe_emulator import bank_debits, objects, shipping
from stripe_emulator.core import snapshot
from stripe_emulator.disputes import open_dispute
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.intent_params import apply_common, capture_method_param
from stripe_emulator.next_actions import three_ds_next_action
from stripe_emulator.params import boolean
from stripe_emulator.payment_methods import card_of, pm_from_alias_or_id
from stripe_emulator.saved_cards import after_payment, check_customer_params, check_owner, skips_authentication

AUTH_FAILURE_MESSAGE = ("We are unable to authenticate your payment method. Please choose a different "
                        "payment method and try again.")


def _payment_method_for_confirm(emu, params, pi):
    token_id = params.get("confirmation_token")
    if token_id:
        token = emu.store["confirmation_token"].require(token_id, "confirmation_token")
        if token.get("payment_intent") not in (None, pi["id"]):  # single-use: it confirmed another intent
            raise invalid(f"This ConfirmationToken ('{token_id}') has already been used to confirm another "
                          "PaymentIntent.", param="confirmation_token", store=True)
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
            message = ("You cannot confirm this PaymentIntent because it has already succeeded after being "
                       "previously confirmed.")
        else:
            message = f"You cannot confirm this PaymentIntent because it has a status of {pi['status']}."
        raise StripeError(400, "invalid_request_error", message, code="payment_intent_unexpected_state",
                          payment_intent=snapshot(pi))
    check_customer_params(emu, params)
    shipping.parse(params.get("shipping"))  # a malformed one is refused before the token is spent
    pm = _payment_method_for_confirm(emu, params, pi)
    if pm["type"] not in pi["payment_method_types"]:
        raise invalid(f"The payment method type provided: {pm['type']} is invalid. This PaymentIntent is configured "
                      f"to accept the following payment method types: {', '.join(pi['payment_method_types'])}.",
                      param="payment_method", store=True)
    check_owner(emu, pm, pi["customer"])
    apply_common(pi, {k: v for k, v in params.items() if k in ("receipt_email", "shipping", "setup_future_usage")})
    token = emu.store["confirmation_token"].get(params.get("confirmation_token") or "")
    if token and token.get("shipping") and pi["shipping"] is None:  # the Address Element's, unless given
        pi["shipping"] = shipping.for_intent(token["shipping"])
    if params.get("capture_method"):
        pi["capture_method"] = capture_method_param(params, pi["capture_method"])
    pi["payment_method"] = pm["id"]
    pi["last_payment_error"] = None
    if pm["type"] == "us_bank_account":
        bank_debits.start(emu, pi, pm, emu.store["payment_method"].meta.get(pm["id"]), request)
        return pi
    card = card_of(emu, pm)
    if card.three_ds and not skips_authentication(emu, pi, pm, card, params):
        if boolean(params, "error_on_requires_action") or boolean(params, "off_session"):
            _fail(emu, pi, pm, request, card.decline or ("authentication_required", "authentication_required",
                  "Your card was declined. This transaction requires authentication."), charge_card=card)
            raise_decline(pi)
        pi["next_action"] = three_ds_next_action(request, pi, pm, card, params)
        pi["status"] = "requires_action"
        emu.emit("payment_intent.requires_action", pi, request)
        return pi
    charge(emu, pi, pm, card, request, three_ds=False)
    if pi["status"] == "requires_payment_method":
        raise_decline(pi)
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
    after_payment(emu, pi, pm, request)
    if manual:
        pi["status"] = "requires_capture"
        pi["amount_capturable"] = pi["amount"]
        emu.emit("payment_intent.amount_capturable_updated", pi, request)
    else:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        emu.emit("payment_intent.succeeded", pi, request)
        if card.dispute:
            open_dispute(emu, ch, card)


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


def raise_decline(pi):
    lpe = pi["last_payment_error"]
    extra = {"charge": lpe["charge"], "payment_method": lpe["payment_method"]}
    if lpe.get("advice_code"):
        extra["advice_code"] = lpe["advice_code"]
    raise StripeError(402, "card_error", lpe["message"], code=lpe["code"], decline_code=lpe["decline_code"],
                      payment_intent=snapshot(pi), extra=extra)
