"""US bank account debits (ACH), a payment method that settles later.

Confirming a PaymentIntent with a ``us_bank_account`` PaymentMethod leaves it ``processing`` with a pending
Charge (``charge.pending``, ``payment_intent.processing``). After ``--debit-settle-seconds`` (or at once,
through the control API's ``POST /_emulator/debits/settle``) the bank answers from Stripe's test account numbers:
``succeeded`` (``charge.succeeded``, ``payment_intent.succeeded``) or failed (``charge.failed``,
``payment_intent.payment_failed``, the PaymentIntent back to ``requires_payment_method``).

Real Stripe verifies the account through Financial Connections or micro-deposits; the emulator takes the routing
and account numbers typed in (the manual entry Stripe also offers) and treats them as verified.
"""

import asyncio

from stripe_emulator import cards, objects
from stripe_emulator.errors import invalid

ROUTING = "110000000"  # Stripe's test routing number
FAILURES = {  # Stripe's test account numbers and how the debit fails (the charge's failure_code and message)
    "000111111113": ("account_closed", "The customer's bank account has been closed."),
    "000111111116": ("no_account", "The customer's bank account could not be located."),
    "000222222227": ("insufficient_funds", "The customer's account has insufficient funds to cover this payment."),
    "000333333335": ("debit_not_authorized", "The customer has notified their bank that this payment was "
                                             "unauthorized."),
}
SUCCEEDS = "000123456789"


def _routing_ok(number: str) -> bool:
    """The ABA routing number checksum."""
    weights = (3, 7, 1) * 3
    return len(number) == 9 and number.isdigit() and sum(int(d) * w for d, w in zip(number, weights)) % 10 == 0


def payment_method(data: dict, billing: dict, metadata: dict) -> dict:
    """A ``us_bank_account`` PaymentMethod from typed-in details, checked as Stripe checks them."""
    routing = str(data.get("routing_number") or "").strip()
    account = str(data.get("account_number") or "").strip()
    holder = data.get("account_holder_type") or "individual"
    kind = data.get("account_type") or "checking"
    prefix = "payment_method_data[us_bank_account]"
    if not _routing_ok(routing):
        raise invalid("Invalid routing number.", code="routing_number_invalid", param=f"{prefix}[routing_number]")
    if not (account.isdigit() and 4 <= len(account) <= 17):
        raise invalid("Invalid account number.", code="account_number_invalid", param=f"{prefix}[account_number]")
    if holder not in ("individual", "company"):
        raise invalid("Invalid account_holder_type: must be one of individual or company",
                      code="parameter_invalid_string", param=f"{prefix}[account_holder_type]")
    if kind not in ("checking", "savings"):
        raise invalid("Invalid account_type: must be one of checking or savings",
                      code="parameter_invalid_string", param=f"{prefix}[account_type]")
    if not (billing.get("name") or "").strip():
        raise invalid("Missing required param: payment_method_data[billing_details][name].",
                      code="parameter_missing", param="payment_method_data[billing_details][name]")
    return {
        "id": objects.new_id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
        "billing_details": billing, "created": objects.now(), "customer": None, "customer_account": None,
        "livemode": False, "metadata": metadata or {}, "type": "us_bank_account",
        "us_bank_account": {
            "account_holder_type": holder, "account_type": kind, "bank_name": "STRIPE TEST BANK",
            "financial_connections_account": None, "fingerprint": "emu" + account[-8:], "last4": account[-4:],
            "networks": {"preferred": "ach", "supported": ["ach"]}, "routing_number": routing,
            "status_details": {},
        },
    }


def start(emu, pi, pm, account: str, request) -> None:
    """The debit is sent to the bank: the PaymentIntent is processing until the bank answers."""
    ch = objects.charge(pi, dict(pm, card=objects.card_details(cards.lookup("4242424242424242"), 12, 2034)),
                        cards.lookup("4242424242424242"), status="pending", captured=True)
    details = pm["us_bank_account"]
    ch.update(paid=False, payment_method_details={"type": "us_bank_account", "us_bank_account": {
        "account_holder_type": details["account_holder_type"], "account_type": details["account_type"],
        "bank_name": details["bank_name"], "fingerprint": details["fingerprint"], "last4": details["last4"],
        "mandate": None, "payment_reference": None, "routing_number": details["routing_number"]}})
    emu.store["charge"].add(ch)
    pi.update(status="processing", latest_charge=ch["id"], next_action=None)
    emu.emit("charge.pending", ch, request)
    emu.emit("payment_intent.processing", pi, request)
    emu.debits[pi["id"]] = account
    emu.webhooks.track(_settle_later(emu, pi["id"]))


async def _settle_later(emu, pi_id: str) -> None:
    await asyncio.sleep(emu.debit_settle_seconds)
    settle(emu, pi_id)


def settle(emu, pi_id: str) -> bool:
    """The bank's answer for a processing debit, now. False if it has none waiting (settled already)."""
    account = emu.debits.pop(pi_id, None)
    pi = emu.store["payment_intent"].get(pi_id)
    if account is None or pi is None or pi["status"] != "processing":
        return False
    ch = emu.store["charge"].get(pi["latest_charge"])
    failure = FAILURES.get(account)
    if failure is None:
        ch.update(status="succeeded", paid=True, outcome=objects.charge_outcome(None, "authorized"))
        emu.emit("charge.succeeded", ch)
        pi.update(status="succeeded", amount_received=pi["amount"])
        emu.emit("payment_intent.succeeded", pi)
        return True
    code, message = failure
    ch.update(status="failed", failure_code=code, failure_message=message, captured=False, amount_captured=0,
              outcome=objects.charge_outcome((code, code, message), "issuer_declined"))
    emu.emit("charge.failed", ch)
    pm = emu.store["payment_method"].get(pi["payment_method"])
    pi.update(status="requires_payment_method", payment_method=None, last_payment_error={
        "type": "invalid_request_error", "code": code, "decline_code": None, "message": message,
        "charge": ch["id"], "payment_method": pm,
        "doc_url": "https://stripe.com/docs/error-codes/" + code.replace("_", "-")})
    emu.emit("payment_intent.payment_failed", pi)
    return True
