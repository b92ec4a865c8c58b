"""Receipts: written to the outbox with the fulfilment, sent over SMTP (MAIL_URL) by their own job, once."""
from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, update

from .models import Order, OutboxEmail, db, utcnow
from .money import format_money

log = logging.getLogger(__name__)
CLAIM_LEASE = timedelta(seconds=20)  # a claim older than this is from a crashed sender (SMTP timeout is 10 s)


def receipt_for(order: Order) -> OutboxEmail:
    lines = "\n".join(f"  {line.quantity} x {line.name}  {format_money(line.total, order.currency)}"
                      for line in order.lines)
    body = (f"Thank you for your order.\n\nOrder {order.public_id}\n{lines}\n\n"
            f"Total paid: {format_money(order.amount, order.currency)}\n")
    return OutboxEmail(order_id=order.id, kind="receipt", to=order.email or "",
                       subject=f"Your receipt for order {order.public_id[:8]}", body=body)


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
    message["Message-ID"] = f"<receipt-{outbox.order_id}@storefront>"  # stable: a resend is recognisable
    message.set_content(outbox.body)
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
