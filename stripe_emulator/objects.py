"""Builders for Stripe objects, with exactly the top-level fields of fixtures3.json."""

from stripe_emulator import API_VERSION
from stripe_emulator.ids import new_id, now


def _address(postal_code=None):
    return {"city": None, "country": None, "line1": None, "line2": None,
            "postal_code": postal_code, "state": None}


def billing_details(postal_code=None, extra=None):
    extra = extra or {}
    address = _address(postal_code)
    if isinstance(extra.get("address"), dict):
        address.update({k: v for k, v in extra["address"].items() if k in address})
    return {"address": address, "email": extra.get("email"), "name": extra.get("name"),
            "phone": extra.get("phone"), "tax_id": None}


def card_details(card, exp_month, exp_year):
    return {
        "brand": card.brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
        "country": "US", "display_brand": card.brand, "exp_month": exp_month, "exp_year": exp_year,
        "fingerprint": "emu" + card.number[-8:], "funding": card.funding, "generated_from": None,
        "last4": card.number[-4:], "networks": {"available": [card.brand], "preferred": None},
        "three_d_secure_usage": {"supported": True}, "wallet": None, "regulated_status": "unregulated",
    }


def payment_method(card, exp_month=12, exp_year=2034, billing=None, metadata=None):
    return {
        "id": new_id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": billing or billing_details(), "card": card_details(card, exp_month, exp_year),
        "created": now(), "customer": None, "customer_account": None, "livemode": False,
        "metadata": metadata or {}, "type": "card",
    }


def confirmation_token(pm, return_url=None, shipping=None, setup_future_usage=None):
    created = now()
    return {
        "id": new_id("ctoken"), "object": "confirmation_token", "created": created,
        "expires_at": created + 12 * 3600, "livemode": False, "mandate_data": None, "metadata": {},
        "payment_intent": None, "payment_method_options": None,
        "payment_method_preview": {
            "allow_redisplay": "unspecified", "billing_details": pm["billing_details"],
            pm["type"]: pm[pm["type"]], "customer": None, "customer_account": None, "type": pm["type"],
        },
        "return_url": return_url, "setup_future_usage": setup_future_usage, "setup_intent": None,
        "shipping": shipping, "use_stripe_sdk": True,
    }


def payment_intent(amount, currency, **fields):
    pi_id = new_id("pi")
    pi = {
        "id": pi_id, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_details": {"tip": {}}, "amount_received": 0, "application": None,
        "application_fee_amount": None, "automatic_payment_methods": None, "canceled_at": None,
        "cancellation_reason": None, "capture_method": "automatic_async",
        "client_secret": pi_id + "_secret_" + new_id("x")[4:], "confirmation_method": "automatic",
        "created": now(), "currency": currency, "customer": None, "customer_account": None,
        "description": None, "excluded_payment_method_types": None, "last_payment_error": None,
        "latest_charge": None, "livemode": False, "managed_payments": None, "metadata": {},
        "next_action": None, "on_behalf_of": None, "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                            "request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"], "processing": None, "receipt_email": None, "review": None,
        "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
        "statement_descriptor_suffix": None, "status": "requires_payment_method",
        "transfer_data": None, "transfer_group": None,
    }
    pi.update(fields)
    return pi


def charge(pi, pm, card, *, status, captured, failure=None, outcome_type="authorized", three_ds=False):
    ch_id = new_id("ch")
    amount = pi["amount"]
    paid = status == "succeeded"
    return {
        "id": ch_id, "object": "charge", "amount": amount,
        "amount_captured": amount if paid and captured else 0, "amount_refunded": 0,
        "application": None, "application_fee": None, "application_fee_amount": None,
        "balance_transaction": new_id("txn") if paid and captured else None,
        "billing_details": pm["billing_details"], "calculated_statement_descriptor": "EMULATOR SHOP",
        "captured": bool(paid and captured), "created": now(), "currency": pi["currency"],
        "customer": pi["customer"], "description": pi["description"], "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure[0] if failure else None,
        "failure_message": failure[2] if failure else None,
        "fraud_details": {"stripe_report": "fraudulent"} if outcome_type == "blocked" else {},
        "livemode": False, "metadata": dict(pi["metadata"]), "on_behalf_of": None,
        "outcome": charge_outcome(failure, outcome_type, card.risk_level), "paid": paid, "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {"card": _charge_card(pm["card"], amount, three_ds), "type": "card"},
        "receipt_email": pi["receipt_email"], "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{ch_id}", "refunded": False,
        "review": None, "shipping": pi["shipping"], "source": None, "source_transfer": None,
        "statement_descriptor": pi["statement_descriptor"],
        "statement_descriptor_suffix": pi["statement_descriptor_suffix"], "status": status,
        "transfer_data": None, "transfer_group": None,
    }


RISK_SCORES = {"normal": 20, "elevated": 72, "highest": 95}


def charge_outcome(failure, outcome_type, risk_level="normal"):
    if failure is None:
        return {"advice_code": None, "network_advice_code": None, "network_decline_code": None,
                "network_status": "approved_by_network", "reason": None, "risk_level": risk_level,
                "risk_score": RISK_SCORES[risk_level], "seller_message": "Payment complete.", "type": "authorized"}
    blocked = outcome_type == "blocked"
    return {"advice_code": "do_not_try_again" if blocked else "try_again_later",
            "network_advice_code": None, "network_decline_code": None,
            "network_status": "not_sent_to_network" if blocked else "declined_by_network",
            "reason": "highest_risk_level" if blocked else failure[1],
            "risk_level": "highest" if blocked else "normal", "risk_score": 95 if blocked else 30,
            "seller_message": "Stripe blocked this payment as too risky." if blocked
            else "The bank did not return any further details with this decline.",
            "type": outcome_type}


def _charge_card(card, amount, three_ds):
    return {
        "amount_authorized": amount, "authorization_code": None, "brand": card["brand"],
        "checks": card["checks"], "country": card["country"], "exp_month": card["exp_month"],
        "exp_year": card["exp_year"], "extended_authorization": {"status": "disabled"},
        "fingerprint": card["fingerprint"], "funding": card["funding"],
        "incremental_authorization": {"status": "unavailable"}, "installments": None,
        "last4": card["last4"], "mandate": None, "multicapture": {"status": "unavailable"},
        "network": card["brand"], "network_token": {"used": False}, "network_transaction_id": None,
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "regulated_status": "unregulated",
        "three_d_secure": ({"authentication_flow": "challenge", "electronic_commerce_indicator": "05",
                            "exemption_indicator": None, "result": "authenticated", "result_reason": None,
                            "transaction_id": None, "version": "2.2.0"} if three_ds else None),
        "wallet": None,
    }


def refund(ch, amount, status, reason=None, metadata=None):
    return {
        "id": new_id("re"), "object": "refund", "amount": amount,
        "balance_transaction": new_id("txn") if status == "succeeded" else None,
        "charge": ch["id"], "created": now(), "currency": ch["currency"], "customer": None,
        "customer_account": None,
        "destination_details": {"card": {"reference_status": "pending", "reference_type": "acquirer_reference_number",
                                         "type": "refund"}, "type": "card"},
        "metadata": metadata or {}, "payment_intent": ch["payment_intent"], "payment_method": ch["payment_method"],
        "reason": reason, "receipt_number": None, "source_transfer_reversal": None, "status": status,
        "transfer_reversal": None,
    }


def event(type_, data_object, pending_webhooks, request_id, idempotency_key, previous=None):
    data = {"object": data_object}
    if previous:
        data["previous_attributes"] = previous
    return {
        "id": new_id("evt"), "object": "event", "api_version": API_VERSION, "created": now(),
        "data": data, "livemode": False, "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key}, "type": type_,
    }


def webhook_endpoint(url, enabled_events, description=None, metadata=None, api_version=None):
    return {
        "id": new_id("we"), "object": "webhook_endpoint", "api_version": api_version, "application": None,
        "created": now(), "description": description, "enabled_events": enabled_events, "livemode": False,
        "metadata": metadata or {}, "status": "enabled", "url": url,
    }


def list_object(url, data, has_more):
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
