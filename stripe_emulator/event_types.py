"""The event types a webhook endpoint may subscribe to (Stripe refuses any other name in ``enabled_events``).

Stripe's full list is longer; this holds the types of the objects the emulator has and those integrations
commonly subscribe to, so a typo is refused while a real type the emulator never sends is still accepted.
"""

from stripe_emulator.errors import invalid

_PREFIXED = {
    "payment_intent": "amount_capturable_updated canceled created partially_funded payment_failed processing "
                      "requires_action succeeded",
    "charge": "captured expired failed pending refunded succeeded updated refund.updated dispute.closed "
              "dispute.created dispute.funds_reinstated dispute.funds_withdrawn dispute.updated",
    "refund": "created failed updated",
    "payment_method": "attached automatically_updated detached updated",
    "setup_intent": "canceled created requires_action setup_failed succeeded",
    "customer": "created deleted updated source.created source.deleted source.expiring source.updated "
                "subscription.created subscription.deleted subscription.updated discount.created "
                "discount.deleted discount.updated",
    "checkout.session": "async_payment_failed async_payment_succeeded completed expired",
    "invoice": "created deleted finalized marked_uncollectible paid payment_action_required payment_failed "
               "payment_succeeded sent upcoming updated voided",
    "balance": "available",
    "payout": "canceled created failed paid updated",
    "radar.early_fraud_warning": "created updated",
    "review": "closed opened",
    "mandate": "updated",
    "product": "created deleted updated",
    "price": "created deleted updated",
}
KNOWN = frozenset(f"{kind}.{action}" for kind, actions in _PREFIXED.items() for action in actions.split()) | {"*"}


def check(events: list):
    for name in events:
        if not isinstance(name, str) or name not in KNOWN:
            raise invalid(f"Invalid enabled_events: {name!s:.80} is not a valid event type.",
                          code="parameter_invalid_string", param="enabled_events")
    return events
