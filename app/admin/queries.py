"""Read-only views of the shop for the admin pages: an order's timeline and the health panel."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import or_, select

from app.models import Dispute, Order, OrderTransition, PaymentAttempt, Refund, StripeEvent, db
from app.money import format_money


@dataclass
class Moment:
    at: datetime
    kind: str  # transition | attempt | event | refund | dispute
    title: str
    detail: str = ""
    ok: bool = True
    link: str = ""  # where a person acts on it (a dispute: Stripe's Dashboard)


def order_events(order: Order) -> list[StripeEvent]:
    """Stored Stripe events about this order's PaymentIntent (and its charges, refunds and disputes, which name
    the intent)."""
    if not order.payment_intent_id:
        return []
    pi = order.payment_intent_id
    names_it = or_(StripeEvent.payload.contains(f'"payment_intent": "{pi}"'),
                   StripeEvent.payload.contains(f'"payment_intent":"{pi}"'))
    return list(db.session.scalars(select(StripeEvent).where(or_(
        StripeEvent.object_id == pi,
        or_(StripeEvent.type.like("charge.%"), StripeEvent.type.like("refund.%")) & names_it,
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
                                                                                 else "")
                       + (f" · Stripe: {r.failure_reason}" if r.failure_reason else ""), r.status != "failed")
                for r in refunds(order)]
    moments += [Moment(d.created_at, "dispute", f"dispute {d.id}: {d.status}",
                       f"{format_money(d.amount, d.currency)} · {d.reason}"
                       + (f" · evidence due {d.evidence_due_by:%Y-%m-%d %H:%M} UTC" if d.evidence_due_by else ""),
                       d.status != "lost", dashboard_url(d.id))
                for d in disputes(order)]
    return sorted(moments, key=lambda m: m.at)


def dashboard_url(dispute_id: str) -> str:
    """Where a person responds to the dispute in Stripe's Dashboard (test-mode keys have their own pages)."""
    test = current_app.config["SETTINGS"].stripe_secret_key.startswith(("sk_test", "rk_test"))
    return f"https://dashboard.stripe.com/{'test/' if test else ''}disputes/{dispute_id}"


def disputes(order: Order) -> list[Dispute]:
    return list(db.session.scalars(select(Dispute).where(Dispute.order_id == order.id).order_by(Dispute.created_at)))


def refunds(order: Order) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.number)))


def health() -> dict:
    """The breaker, queue depths and failed jobs, and the oldest event still waiting; each part may be an error."""
    from app.ops.stats import event_stats, queue_stats
    from app.payments import get_gateway

    panel: dict = {"breaker": get_gateway(current_app).breaker_state}
    try:
        panel["queues"] = queue_stats()
    except Exception as error:  # Redis down: say so on the panel
        panel["queues_error"] = f"{type(error).__name__}: {error}"
    panel["events"] = event_stats()
    return panel
