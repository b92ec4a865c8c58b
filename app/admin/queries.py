"""Read-only views of the shop for the admin pages: an order's timeline and the health panel."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from app.models import Order, OrderTransition, PaymentAttempt, Refund, StripeEvent, db


@dataclass
class Moment:
    at: datetime
    kind: str  # transition | attempt | event | refund
    title: str
    detail: str = ""
    ok: bool = True


def order_events(order: Order) -> list[StripeEvent]:
    """Stored Stripe events about this order's PaymentIntent (and its charges, which name the intent)."""
    if not order.payment_intent_id:
        return []
    pi = order.payment_intent_id
    return list(db.session.scalars(select(StripeEvent).where(or_(
        StripeEvent.object_id == pi,
        StripeEvent.type.like("charge.%") & StripeEvent.payload.contains(f'"payment_intent": "{pi}"'),
        StripeEvent.type.like("charge.%") & StripeEvent.payload.contains(f'"payment_intent":"{pi}"'),
    )).order_by(StripeEvent.received_at).limit(200)))


def timeline(order: Order) -> list[Moment]:
    """State changes (accepted and refused), payment attempts, Stripe events and refunds, oldest first."""
    moments = [Moment(t.created_at, "transition", f"{t.from_state} → {t.to_state}", t.reason, t.accepted)
               for t in db.session.scalars(select(OrderTransition).where(OrderTransition.order_id == order.id))]
    moments += [Moment(a.created_at, "attempt", f"payment attempt {a.number}: {a.status}",
                       f"HTTP {a.http_status}" if a.http_status else "", a.status not in ("failed", "error"))
                for a in db.session.scalars(select(PaymentAttempt).where(PaymentAttempt.order_id == order.id))]
    moments += [Moment(e.received_at, "event", e.type, f"{e.id} · {e.status} · {e.attempts} attempt(s)"
                       + (f" · {e.last_error}" if e.last_error else ""), e.status not in ("failed", "parked"))
                for e in order_events(order)]
    moments += [Moment(r.created_at, "refund", f"refund {r.number}: {r.status}",
                       f"{r.amount} {r.currency} · key {r.idempotency_key}" + (f" · {r.last_error}" if r.last_error
                                                                                 else ""), r.status != "failed")
                for r in refunds(order)]
    return sorted(moments, key=lambda m: m.at)


def refunds(order: Order) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.number)))


def health() -> dict:
    """The breaker, queue depths and failed jobs, and the oldest event still waiting; each part may be an error."""
    from flask import current_app

    from app.ops.stats import event_stats, queue_stats
    from app.payments import get_gateway

    panel: dict = {"breaker": get_gateway(current_app).breaker_state}
    try:
        panel["queues"] = queue_stats()
    except Exception as error:  # Redis down: say so on the panel
        panel["queues_error"] = f"{type(error).__name__}: {error}"
    panel["events"] = event_stats()
    return panel
