"""The shopper's emails (receipts, refund and cancel notices, a bank debit's processing and failure notices):
written to the outbox with the change they tell of, sent over SMTP (MAIL_URL) by their own job, once.

An email whose address is not one mailbox (app/mail/addresses.py) is parked (`failed_at`, `last_error`): never
sent, never retried, counted in shop_receipts_parked_total for a person to correct the address.
"""
from __future__ import annotations

import functools
import logging
import smtplib
from datetime import timedelta
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app, render_template
from sqlalchemy import or_, select, update

from app.mail.addresses import InvalidAddress, mailbox
from app.models import Order, OutboxEmail, Refund, db, utcnow
from app.money import format_money
from app.orders.breakdown import Breakdown, breakdown
from app.telemetry import metrics

log = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(seconds=20)  # a claim older than this is from a crashed sender (SMTP timeout is 10 s)
RECEIPT_BATCH = 20  # emails one mail job may send when it finds others' jobs waiting behind it


class _HeaderClasses(HeaderRegistry):
    """The standard registry, with each header's class made once: the standard one builds a new class for every
    header of every message (about a quarter of the CPU of writing a receipt)."""

    @functools.cache
    def __getitem__(self, name: str):
        return super().__getitem__(name)


MESSAGE_POLICY = policy.default.clone(header_factory=_HeaderClasses())


def receipt_for(order: Order) -> OutboxEmail:
    """The receipt, as plain text and as HTML, with the same order number as the page and a link back to it."""
    settings = current_app.config["SETTINGS"]
    link = _order_url(order)
    lines = "\n".join(f"  {line.quantity} x {line.name}  {format_money(line.total, order.currency)}"
                      for line in order.lines)
    paid_with = f" with {order.card}" if order.card else ""
    paid = order.amount if order.amount_captured is None else order.amount_captured  # less after a partial capture
    parts = breakdown(order, settings)
    body = (f"Thank you for your order.\n\nOrder {order.number}\n{lines}\n\n" + _breakdown_text(order, parts)
            + f"Total paid{paid_with}: {format_money(paid, order.currency)}\n" + _tax_included_text(order, parts)
            + _address_text(parts) + "\nWe're preparing your parcel: orders ship within 2 business days.\n"
            + _link(order))
    html = render_template("mail/receipt.html", order=order, link=link, breakdown=parts)
    return OutboxEmail(order_id=order.id, kind="receipt", to=order.email or "",
                       subject=f"Your receipt for order {order.number}", body=body, html=html)


def _breakdown_text(order: Order, parts: Breakdown | None) -> str:
    """The receipt's subtotal, discount, shipping and tax lines (none for an order placed before they existed)."""
    if parts is None:
        return ""
    currency = order.currency
    rows = [f"Subtotal: {format_money(parts.subtotal, currency)}"]
    if parts.discount:
        code = f" ({parts.discount_code})" if parts.discount_code else ""
        rows.append(f"Discount{code}: -{format_money(parts.discount, currency)}")
    window = f" ({parts.shipping_window})" if parts.shipping_window else ""
    shipping = format_money(parts.shipping, currency) if parts.shipping else "Free"
    rows.append(f"{parts.shipping_method}{window}: {shipping}")
    if parts.tax and not parts.tax_inclusive:
        rows.append(f"Tax: {format_money(parts.tax, currency)}")
    return "".join(f"{row}\n" for row in rows)


def _tax_included_text(order: Order, parts: Breakdown | None) -> str:
    if parts is None or not parts.tax or not parts.tax_inclusive:
        return ""
    return f"Includes {format_money(parts.tax, order.currency)} tax\n"


def _address_text(parts: Breakdown | None) -> str:
    if parts is None or not parts.address:
        return ""
    return "\nDelivering to:\n" + "".join(f"  {part}\n" for part in parts.address)


def refund_notice_for(order: Order, refund: Refund) -> OutboxEmail:
    """The shopper's word that Stripe sent a refund, with its amount: once per refund (its kind names it)."""
    amount = format_money(refund.amount, refund.currency)
    body = (f"We have sent you a refund of {amount} for order {order.number}.\n"
            "It goes back to the card you paid with; your bank may take a few days to show it.\n" + _link(order))
    return OutboxEmail(order_id=order.id, kind=f"refund-{refund.number}", to=order.email or "",
                       subject=f"Refund of {amount} for order {order.number}", body=body)


def refund_failed_notice_for(order: Order, refund: Refund) -> OutboxEmail:
    """A refund the shopper was told was sent, which then failed (the card was closed, say): the money came back
    to the shop, and the earlier email is corrected. Once per refund."""
    amount = format_money(refund.amount, refund.currency)
    body = (f"The refund of {amount} for order {order.number} that we told you we had sent did not reach you: "
            "your card's bank sent it back to us.\n"
            "We will contact you to refund you another way. You don't need to do anything.\n" + _link(order))
    return OutboxEmail(order_id=order.id, kind=f"refund-{refund.number}-failed", to=order.email or "",
                       subject=f"Your refund of {amount} for order {order.number} did not go through", body=body)


def notify(order: Order, email_for, written: list[OutboxEmail]) -> None:
    """Write the shopper's email to the outbox with the change it tells of (after a transition that happens
    once per order, so the email is written once; the outbox's unique (order, kind) would refuse a second)."""
    if order.email:
        email = email_for(order)
        db.session.add(email)
        written.append(email)


def processing_notice_for(order: Order) -> OutboxEmail:
    """A bank debit Stripe took and the bank has not settled yet: once per order."""
    body = (f"Thank you for your order {order.number} of {format_money(order.amount, order.currency)}.\n\n"
            "Your payment from your bank account is processing. Bank payments take a few business days; "
            "we'll email you when your bank confirms it, and your order ships once it has.\n"
            + _link(order))
    return OutboxEmail(order_id=order.id, kind="processing", to=order.email or "",
                       subject=f"Payment processing for order {order.number}", body=body)


def failed_after_processing_for(order: Order) -> OutboxEmail:
    """The bank refused a debit that was processing: the order is not paid and will not ship. Once per order."""
    body = (f"Your bank did not confirm the payment of {format_money(order.amount, order.currency)} for order "
            f"{order.number}, so the order is not paid and will not ship.\n"
            "You can order again from the shop and pay by card or with another bank account.\n"
            + _link(order))
    return OutboxEmail(order_id=order.id, kind="payment-failed", to=order.email or "",
                       subject=f"Your payment for order {order.number} did not go through", body=body)


def _order_url(order: Order) -> str:
    """The order's page, as the shopper opens it from an email (none without PUBLIC_URL)."""
    public_url = current_app.config["SETTINGS"].public_url
    return f"{public_url.rstrip('/')}/orders/{order.public_id}" if public_url else ""


def _link(order: Order) -> str:
    url = _order_url(order)
    return f"\nYour order: {url}\n" if url else ""


def canceled_notice_for(order: Order) -> OutboxEmail:
    """The shopper's word that the order was canceled, and what became of the money: once per order."""
    money = ("Your payment is being refunded to the card you paid with; your bank may take a few days to show it."
             if order.paid_at else "The hold on your card has been released: nothing was charged.")
    body = f"Your order {order.number} has been canceled and will not be sent.\n{money}\n" + _link(order)
    return OutboxEmail(order_id=order.id, kind="canceled", to=order.email or "",
                       subject=f"Order {order.number} has been canceled", body=body)


def sendable(now) -> tuple:
    """Where an email waits to be sent: not sent, not parked, and not claimed by a sender still at work."""
    return (OutboxEmail.sent_at.is_(None), OutboxEmail.failed_at.is_(None),
            or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < now - CLAIM_LEASE))


def deliver_waiting(outbox_id: int, batch: int = RECEIPT_BATCH) -> str:
    """The mail job: send this email, then, when others' jobs wait on the mail queue behind it, take up to
    `batch - 1` of them off the queue and send those too, over the same connection: one job's bookkeeping for
    many emails when they pile up. One that fails puts itself and the rest back on the queue; a worker that
    dies meanwhile leaves them unsent with no job, for the relay to enqueue again. Returns this email's
    result; raises (for a retry) only if this one failed."""
    from app.queues import enqueue_receipts, forget_receipt_jobs, take_queued_receipts

    result = deliver_outbox(outbox_id)
    if result != "sent" or batch <= 1:
        return result
    waiting = db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.id != outbox_id, *sendable(utcnow()))
                                 .order_by(OutboxEmail.id).limit(batch - 1)).all()
    db.session.rollback()
    taken = take_queued_receipts(list(waiting)) if waiting else []
    done = []
    for position, other in enumerate(taken):
        try:
            deliver_outbox(other)
        except Exception as error:  # noqa: BLE001 - its own job sends it again
            log.warning("receipt not sent outbox_id=%s error=%s; it and %d more go back on the queue", other,
                        type(error).__name__, len(taken) - position - 1)
            enqueue_receipts(taken[position:])
            break
        done.append(other)
    forget_receipt_jobs(done)
    return result


def deliver_outbox(outbox_id: int) -> str:
    """Claim the row (a lease, so two jobs never send at once), send it, mark it sent."""
    settings = current_app.config["SETTINGS"]
    if not settings.mail_url:
        return "no_mail_url"
    now = utcnow()
    claimed = db.session.execute(
        update(OutboxEmail).where(OutboxEmail.id == outbox_id, *sendable(now))
        .values(claimed_at=now, attempts=OutboxEmail.attempts + 1)).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    outbox = db.session.get(OutboxEmail, outbox_id)
    try:
        to = mailbox(outbox.to)
    except InvalidAddress as error:
        return _park(outbox, f"not one mailbox: {error}")
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = outbox.subject
    message["Date"] = format_datetime(outbox.created_at)
    message["Message-ID"] = f"<{outbox.kind}-{outbox.order_id}@storefront>"  # stable: a resend is recognisable
    message.set_content(outbox.body)
    if outbox.html:
        message.add_alternative(outbox.html, subtype="html")
    try:
        current_app.extensions["smtp"].send(message)
    except (OSError, smtplib.SMTPException):
        outbox.claimed_at = None
        db.session.commit()
        raise
    outbox.sent_at = utcnow()
    db.session.commit()
    log.info("receipt sent outbox_id=%s order_id=%s", outbox_id, outbox.order_id)
    return "sent"


def _park(outbox: OutboxEmail, reason: str) -> str:
    """Never send this one; a person corrects the address (docs/operations.md, "A parked receipt")."""
    outbox.failed_at = utcnow()
    outbox.last_error = reason[:2000]
    outbox.claimed_at = None
    db.session.commit()
    metrics.RECEIPTS_PARKED.inc()
    log.error("receipt parked outbox_id=%s order_id=%s reason=%s", outbox.id, outbox.order_id, reason)
    return "parked"
