"""Disputes as Stripe reports them: `charge.dispute.created`, `.updated`, `.closed`, `.funds_withdrawn` and
`.funds_reinstated`.

Each dispute is one `Dispute` row beside its order; the order's own state never changes for it (the money was
taken, and a lost dispute is Stripe's to take back). A dispute's status only moves forward (needs response,
under review, won or lost), so duplicated and shuffled events end the same, and a dispute that arrives before
the order's own success event is recorded all the same.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from app.events.matching import Mismatch, check_intent, check_money, order_for
from app.models import Dispute, DisputeStatus, db

__all__ = ["HANDLERS", "dispute_status"]

log = logging.getLogger(__name__)
D = DisputeStatus
STRIPE_STATUS = {"warning_needs_response": D.NEEDS_RESPONSE, "needs_response": D.NEEDS_RESPONSE,
                 "warning_under_review": D.UNDER_REVIEW, "under_review": D.UNDER_REVIEW,
                 "won": D.WON, "warning_closed": D.WON, "lost": D.LOST}


def dispute_status(stripe_status: str | None) -> DisputeStatus:
    return STRIPE_STATUS.get(stripe_status or "", D.NEEDS_RESPONSE)


def on_dispute(dispute: dict, _receipts) -> str:
    order = order_for(dispute.get("payment_intent"), dispute.get("metadata"))
    check_intent(order, dispute.get("payment_intent"), "a dispute")
    check_money(order, dispute.get("amount"), dispute.get("currency"), "a dispute", exact=False)
    row = db.session.get(Dispute, dispute["id"])
    if row is not None and row.order_id != order.id:
        raise Mismatch("intent_mismatch", f"dispute {row.id} belongs to another order")
    status = dispute_status(dispute.get("status"))
    if row is None:
        row = Dispute(id=dispute["id"], order_id=order.id, status=status.value, stripe_status="", amount=0,
                      currency=order.currency, funds_withdrawn=0, balance_transactions=0)
        db.session.add(row)
    elif D.RANK[status] < D.RANK[D(row.status)]:
        return f"dispute_{row.status}"  # an older event than one applied already
    before = row.status if row.stripe_status else None
    row.status, row.stripe_status = status.value, str(dispute.get("status") or "")[:40]
    row.amount, row.currency = dispute["amount"], dispute["currency"]
    row.reason = str(dispute.get("reason") or "")[:60]
    due = (dispute.get("evidence_details") or {}).get("due_by")
    row.evidence_due_by = datetime.fromtimestamp(due, timezone.utc) if isinstance(due, int) else None
    transactions = [txn for txn in dispute.get("balance_transactions") or [] if isinstance(txn, dict)]
    if len(transactions) >= row.balance_transactions:  # an event of the same status may list fewer
        row.funds_withdrawn = -sum(int(txn.get("amount") or 0) for txn in transactions)
        row.balance_transactions = len(transactions)
    if before != row.status:
        log.warning("dispute order=%s dispute=%s status=%s amount=%d", order.public_id, row.id, row.status,
                    row.amount)
    return f"dispute_{row.status}"


HANDLERS = {f"charge.dispute.{change}": on_dispute
            for change in ("created", "updated", "closed", "funds_withdrawn", "funds_reinstated")}
