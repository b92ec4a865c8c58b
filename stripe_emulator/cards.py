"""Stripe's documented test cards, their ``pm_card_*`` aliases and outcomes.

Outcome fields:
  decline   -> (code, decline_code, message) when the charge is declined
  three_ds  -> the payment needs 3-D Secure before charging
  refund    -> "pending" (refund pending then succeeded) or "fail" (succeeded then failed)
  dispute   -> the payment succeeds, then its charge is disputed for this reason ("inquiry": an inquiry)
  risk_level -> Radar's outcome.risk_level; "highest" cards are blocked by Radar's default rule
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    number: str
    brand: str = "visa"
    decline: tuple | None = None
    three_ds: bool = False
    refund: str | None = None
    dispute: str | None = None
    funding: str = "credit"
    outcome_type: str = "authorized"
    risk_level: str = "normal"
    setup_covers_off_session: bool = False  # once set up, off-session payments need no 3DS


_GENERIC = ("card_declined", "generic_decline", "Your card was declined.")

CARDS = {c.number: c for c in [
    Card("4242424242424242"),
    Card("4000056655665556", funding="debit"),
    Card("5555555555554444", brand="mastercard"),
    Card("378282246310005", brand="amex"),
    Card("4000000000000002", decline=_GENERIC, outcome_type="issuer_declined"),
    Card("4000000000009995", decline=("card_declined", "insufficient_funds", "Your card has insufficient funds."),
         outcome_type="issuer_declined"),
    Card("4000000000009987", decline=("card_declined", "lost_card", "Your card was declined."),
         outcome_type="issuer_declined"),
    Card("4000000000009979", decline=("card_declined", "stolen_card", "Your card was declined."),
         outcome_type="issuer_declined"),
    Card("4000000000000069", decline=("expired_card", "expired_card", "Your card has expired."),
         outcome_type="issuer_declined"),
    Card("4000000000000127", decline=("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
         outcome_type="issuer_declined"),
    Card("4000000000000119", decline=("processing_error", "processing_error",
                                      "An error occurred while processing your card. Try again in a little bit."),
         outcome_type="issuer_declined"),
    Card("4100000000000019", decline=("card_declined", "fraudulent", "Your card was declined."),
         outcome_type="blocked", risk_level="highest"),
    Card("4000000000004954", decline=("card_declined", "fraudulent", "Your card was declined."),
         outcome_type="blocked", risk_level="highest"),
    Card("4000000000009235", risk_level="elevated"),
    Card("4000000000003220", three_ds=True),
    Card("4000002500003155", three_ds=True, setup_covers_off_session=True),
    Card("4000002760003184", three_ds=True),
    Card("4000008400001629", three_ds=True,
         decline=("card_declined", "insufficient_funds", "Your card has insufficient funds."),
         outcome_type="issuer_declined"),
    Card("4000000000000341", decline=_GENERIC, outcome_type="issuer_declined"),
    Card("4000000000007726", refund="pending"),
    Card("4000000000005126", refund="fail"),
    Card("4000000000000259", dispute="fraudulent"),
    Card("4000000000002685", dispute="product_not_received"),
    Card("4000000000001976", dispute="inquiry"),
]}

PM_ALIASES = {
    "pm_card_visa": "4242424242424242",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_visa_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_visa_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_chargeDeclinedLostCard": "4000000000009987",
    "pm_card_visa_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedStolenCard": "4000000000009979",
    "pm_card_chargeDeclinedExpiredCard": "4000000000000069",
    "pm_card_chargeDeclinedIncorrectCvc": "4000000000000127",
    "pm_card_chargeDeclinedProcessingError": "4000000000000119",
    "pm_card_radarBlock": "4100000000000019",
    "pm_card_riskLevelHighest": "4000000000004954",
    "pm_card_riskLevelElevated": "4000000000009235",
    "pm_card_threeDSecure2Required": "4000000000003220",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": "4000008400001629",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_pendingRefund": "4000000000007726",
    "pm_card_refundFail": "4000000000005126",
    "pm_card_createDispute": "4000000000000259",
    "pm_card_createDisputeProductNotReceived": "4000000000002685",
    "pm_card_createDisputeInquiry": "4000000000001976",
}

# Stripe's test tokens: ``tok_visa`` for ``pm_card_visa`` and so on for every alias above.
TOKENS = {"tok_" + alias[len("pm_card_"):]: number for alias, number in PM_ALIASES.items()}


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith(("34", "37")):
        return "amex"
    if number[:2] in ("51", "52", "53", "54", "55") or number[:1] == "2":
        return "mastercard"
    if number.startswith("4"):
        return "visa"
    return "unknown"


def lookup(number: str) -> Card:
    """Known test card, or a succeeding card of the right brand for any Luhn-valid number."""
    return CARDS.get(number) or Card(number, brand=brand_of(number))
