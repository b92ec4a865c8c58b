"""Stripe Tax after the payment: a paid order's tax transaction, recorded once from the calculation the shopper
paid, and each succeeded refund's tax reversal, recorded once per refund.

Each is its own job on the payments queue (app/tasks.py `record_tax_transaction`, `reverse_tax`), enqueued once
the change that calls for it has committed, so a Stripe outage never holds up a fulfilment, a receipt or a refund:
RQ retries the job with backoff and the relay re-enqueues one whose job was lost (app/queues/relay.py
`relay_tax`). Stripe is asked with keys derived from the stored rows (`order-<public id>-tax-transaction`,
`refund-<refund id>-tax-reversal`) and unique references, and the answer is stored by a conditional UPDATE, so
duplicated events, two workers or a job retried after a crash record one transaction and one reversal each.
"""
from __future__ import annotations

import logging

from sqlalchemy import event, select, update

from app.models import Order, Refund, RefundStatus, db
from app.payments import Gateway, PaymentError
from app.queues import enqueue_tax_reversal, enqueue_tax_transaction
from app.telemetry import metrics

__all__ = ["TaxNotRecordedYet", "TaxRefused", "record_after_commit", "record_transaction", "reverse_after_commit",
           "reverse_refund"]

log = logging.getLogger(__name__)
ORDERS, REFUNDS = Order.__table__, Refund.__table__
TRANSIENT = ("transient", "unavailable")
PENDING = "tax_jobs"  # the session's (job, row id) pairs to enqueue once its transaction commits
REFUSALS = {"tax_calculation_expired": "the tax calculation expired before the payment was recorded"}


class TaxNotRecordedYet(Exception):
    """Stripe did not answer, or the reversal waits for its order's transaction: RQ tries again later."""


class TaxRefused(Exception):
    """Stripe refused it; the reason is stored for the admin and the job is failed after its retries."""


# ---- enqueued once the change commits --------------------------------------------------------------------
def record_after_commit(order: Order) -> None:
    """Once the fulfilment commits, record the order's tax (if it was calculated and is not recorded yet)."""
    if order.tax_calculation_id and not order.tax_transaction_id:
        _after_commit(enqueue_tax_transaction, order.id)


def reverse_after_commit(refund: Refund, order: Order) -> None:
    """Once the refund's success commits, reverse its tax (if the order's tax was calculated)."""
    if order.tax_calculation_id and not refund.tax_reversal_id:
        _after_commit(enqueue_tax_reversal, refund.id)


def _after_commit(enqueue, row_id: int) -> None:
    session = db.session()
    if PENDING not in session.info:
        session.info[PENDING] = set()
        event.listen(session, "after_commit", _enqueue_pending)
        event.listen(session, "after_rollback", _drop_pending)
    session.info[PENDING].add((enqueue, row_id))


def _enqueue_pending(session) -> None:
    pending = list(session.info[PENDING])
    session.info[PENDING].clear()
    for enqueue, row_id in pending:  # a job whose change a savepoint undid finds nothing to do
        enqueue(row_id)


def _drop_pending(session) -> None:
    session.info[PENDING].clear()


# ---- the jobs ----------------------------------------------------------------------------------------------
def record_transaction(order_id: int, gateway: Gateway) -> str:
    """Record a paid order's tax transaction from its calculation; raises TaxNotRecordedYet while Stripe does not
    answer and TaxRefused when it refuses (an expired calculation), so RQ retries and then parks the job."""
    order = db.session.get(Order, order_id)
    if order is None or not order.tax_calculation_id:
        return "no_tax"
    if order.tax_transaction_id:
        return "recorded"
    if order.paid_at is None:
        return "not_paid"
    public_id, calculation_id = order.public_id, order.tax_calculation_id
    db.session.rollback()  # no transaction held open across the Stripe call
    try:
        transaction = gateway.create_tax_transaction(
            calculation_id, reference=public_id, idempotency_key=f"order-{public_id}-tax-transaction",
            metadata={"order_id": public_id})
    except PaymentError as error:
        if error.kind in TRANSIENT:
            metrics.TAX_RECORDS.labels("transaction", "retry").inc()
            log.warning("tax transaction not recorded yet order=%s error=%s", public_id, error.code or error.kind)
            raise TaxNotRecordedYet(f"Stripe did not answer ({error.code or error.kind})") from None
        reason = _refusal(error)
        first = db.session.execute(update(ORDERS).where(
            ORDERS.c.id == order_id, ORDERS.c.tax_transaction_id.is_(None), ORDERS.c.tax_error.is_(None))
            .values(tax_error=reason)).rowcount
        db.session.commit()
        if first:
            metrics.TAX_RECORDS.labels("transaction", "refused").inc()
            log.error("tax transaction refused order=%s calculation=%s reason=%s", public_id, calculation_id,
                      reason)
        raise TaxRefused(f"order {public_id}: {reason}") from None
    stored = db.session.execute(update(ORDERS).where(ORDERS.c.id == order_id, ORDERS.c.tax_transaction_id.is_(None))
                                .values(tax_transaction_id=transaction["id"], tax_error=None)).rowcount
    db.session.commit()
    if stored:
        metrics.TAX_RECORDS.labels("transaction", "recorded").inc()
        log.info("tax transaction recorded order=%s transaction=%s", public_id, transaction["id"])
    return "recorded"


def reverse_refund(refund_id: int, gateway: Gateway) -> str:
    """Reverse a succeeded refund's tax: in full when it gives back the whole order and nothing was reversed
    before, else in part by the refund's amount. Raises TaxNotRecordedYet while the order's transaction is not
    recorded yet or Stripe does not answer, TaxRefused when Stripe refuses."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.tax_reversal_id:
        return "reversed" if refund is not None else "no_refund"
    if refund.status != RefundStatus.SUCCEEDED:
        return "not_succeeded"
    order = db.session.get(Order, refund.order_id)
    if not order.tax_calculation_id:
        return "no_tax"
    if not order.tax_transaction_id:
        if order.tax_error:  # the order's tax was never recorded: there is nothing to reverse
            return _refused(refund, order, "the order's tax was not recorded, so there is no tax to reverse")
        raise TaxNotRecordedYet(f"refund {refund_id} waits for order {order.public_id}'s tax transaction")
    reversed_before = db.session.scalar(select(Refund.id).where(
        Refund.order_id == order.id, Refund.id != refund.id, Refund.tax_reversal_id.is_not(None)).limit(1))
    taken = order.amount if order.amount_captured is None else order.amount_captured
    flat_amount = None if refund.amount >= taken and reversed_before is None else refund.amount
    transaction_id, reference = order.tax_transaction_id, f"{order.public_id}-refund-{refund.number}"
    db.session.rollback()
    try:
        reversal = gateway.reverse_tax_transaction(transaction_id, reference=reference,
                                                   idempotency_key=f"refund-{refund_id}-tax-reversal",
                                                   flat_amount=flat_amount)
    except PaymentError as error:
        if error.kind in TRANSIENT:
            metrics.TAX_RECORDS.labels("reversal", "retry").inc()
            log.warning("tax reversal not recorded yet refund=%s error=%s", refund_id, error.code or error.kind)
            raise TaxNotRecordedYet(f"Stripe did not answer ({error.code or error.kind})") from None
        return _refused(db.session.get(Refund, refund_id), db.session.get(Order, refund.order_id),
                        _refusal(error), fail=True)
    stored = db.session.execute(update(REFUNDS).where(REFUNDS.c.id == refund_id, REFUNDS.c.tax_reversal_id.is_(None))
                                .values(tax_reversal_id=reversal["id"], tax_error=None)).rowcount
    db.session.commit()
    if stored:
        metrics.TAX_RECORDS.labels("reversal", "recorded").inc()
        log.info("tax reversal recorded refund=%s reversal=%s mode=%s", refund_id, reversal["id"],
                 "full" if flat_amount is None else "partial")
    return "reversed"


def _refused(refund: Refund, order: Order, reason: str, fail: bool = False) -> str:
    first = db.session.execute(update(REFUNDS).where(
        REFUNDS.c.id == refund.id, REFUNDS.c.tax_reversal_id.is_(None), REFUNDS.c.tax_error.is_(None))
        .values(tax_error=reason)).rowcount
    db.session.commit()
    if first:
        metrics.TAX_RECORDS.labels("reversal", "refused").inc()
        log.error("tax reversal refused order=%s refund=%s reason=%s", order.public_id, refund.number, reason)
    if fail:
        raise TaxRefused(f"order {order.public_id} refund {refund.number}: {reason}")
    return "not_reversed"


def _refusal(error: PaymentError) -> str:
    return REFUSALS.get(error.code or "", f"Stripe refused it ({error.code or error.kind})")[:200]
