"""Receipts and refund notices: written to the outbox with the change they tell of, sent over SMTP (MAIL_URL) by
their own job, once."""
from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import or_, update

from app.models import Order, OutboxEmail, Refund, db, utcnow
from app.money import format_money

log = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(seconds=20)  # a claim older than this is from a crashed sender (SMTP timeout is 10 s)


def receipt_for(order: Order) -> OutboxEmail:
    """The receipt, as plain text and as HTML, with the same order number as the page and a link back to it."""
    settings = current_app.config["SETTINGS"]
    link = f"{settings.public_url.rstrip('/')}/orders/{order.public_id}" if settings.public_url else ""
    lines = "\n".join(f"  {line.quantity} x {line.name}  {format_money(line.total, order.currency)}"
                      for line in order.lines)
    paid_with = f" with {order.card}" if order.card else ""
    body = (f"Thank you for your order.\n\nOrder {order.number}\n{lines}\n\n"
            f"Total paid{paid_with}: {format_money(order.amount, order.currency)}\n"
            "We're preparing your parcel: orders ship within 2 business days.\n"
            + (f"\nYour order: {link}\n" if link else ""))
    html = render_template("mail/receipt.html", order=order, link=link)
    return OutboxEmail(order_id=order.id, kind="receipt", to=order.email or "",
                       subject=f"Your receipt for order {order.number}", body=body, html=html)


def refund_notice_for(order: Order, refund: Refund) -> OutboxEmail:
    """The shopper's word that Stripe sent a refund, with its amount: once per refund (its kind names it)."""
    settings = current_app.config["SETTINGS"]
    link = f"{settings.public_url.rstrip('/')}/orders/{order.public_id}" if settings.public_url else ""
    amount = format_money(refund.amount, refund.currency)
    body = (f"We have sent you a refund of {amount} for order {order.number}.\n"
            "It goes back to the card you paid with; your bank may take a few days to show it.\n"
            + (f"\nYour order: {link}\n" if link else ""))
    return OutboxEmail(order_id=order.id, kind=f"refund-{refund.number}", to=order.email or "",
                       subject=f"Refund of {amount} for order {order.number}", body=body)


def deliver_outbox(outbox_id: int) -> str:
    """Claim the row (a lease, so two jobs never send at once), send it, mark it sent."""
    settings = current_app.config["SETTINGS"]
    if not settings.mail_url:
        return "no_mail_url"
    now = utcnow()
    claimed = db.session.execute(
        update(OutboxEmail).where(OutboxEmail.id == outbox_id, OutboxEmail.sent_at.is_(None),
                                  or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < now - CLAIM_LEASE))
        .values(claimed_at=now, attempts=OutboxEmail.attempts + 1)).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    outbox = db.session.get(OutboxEmail, outbox_id)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = outbox.to
    message["Subject"] = outbox.subject
    message["Date"] = format_datetime(outbox.created_at)
    message["Message-ID"] = f"<{outbox.kind}-{outbox.order_id}@storefront>"  # stable: a resend is recognisable
    message.set_content(outbox.body)
    if outbox.html:
        message.add_alternative(outbox.html, subtype="html")
    url = urlsplit(settings.mail_url)
    try:
        with smtplib.SMTP(url.hostname or "127.0.0.1", url.port or 25, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        outbox.claimed_at = None
        db.session.commit()
        raise
    outbox.sent_at = utcnow()
    db.session.commit()
    log.info("receipt sent outbox_id=%s order_id=%s", outbox_id, outbox.order_id)
    return "sent"
