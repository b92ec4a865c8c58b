"""The admin's disputes: the list (open ones first, soonest due first), and evidence text sent to Stripe.

Each dispute links to Stripe's Dashboard, where a person responds in full; simple evidence (a written account)
can be sent from here: `POST /v1/disputes/{id}` with `evidence[uncategorized_text]` and `submit=true`, under an
idempotency key derived from the dispute and the text, so the same form sent twice submits once.
"""
from __future__ import annotations

import hashlib
import logging

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import case, select

from app.admin import bp
from app.admin.queries import dashboard_url
from app.events.disputes import dispute_status
from app.models import Dispute, DisputeStatus, Order, db, utcnow
from app.payments import PaymentError, get_gateway

__all__ = ["open_disputes"]

log = logging.getLogger(__name__)
MAX_EVIDENCE = 20000  # characters; Stripe takes up to 150,000 in all of a dispute's text evidence
FIRST = case((Dispute.status == DisputeStatus.NEEDS_RESPONSE.value, 0),
             (Dispute.status == DisputeStatus.UNDER_REVIEW.value, 1), else_=2)


def open_disputes() -> list[Dispute]:
    return list(db.session.scalars(select(Dispute).where(Dispute.status.in_([s.value for s in DisputeStatus.OPEN]))))


@bp.get("/disputes")
def disputes():
    rows = db.session.execute(select(Dispute, Order.public_id, Order.state).join(Order, Order.id == Dispute.order_id)
                              .order_by(FIRST, Dispute.evidence_due_by, Dispute.created_at.desc()).limit(200)).all()
    return render_template("admin/disputes.html", rows=rows, dashboard_url=dashboard_url, now=utcnow())


@bp.post("/disputes/<dispute_id>/evidence")
def submit_evidence(dispute_id: str):
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None:
        return "No such dispute", 404
    text = request.form.get("evidence", "").strip()
    if not text or len(text) > MAX_EVIDENCE:
        flash(f"Write the evidence (at most {MAX_EVIDENCE} characters).", "error")
        return redirect(url_for("admin.disputes"))
    if dispute.status != DisputeStatus.NEEDS_RESPONSE:
        flash(f"Dispute {dispute.id} is {dispute.status}: Stripe takes no more evidence for it.", "error")
        return redirect(url_for("admin.disputes"))
    key = f"dispute-evidence-{dispute.id}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"
    try:
        answer = get_gateway(current_app).submit_dispute_evidence(
            dispute.id, evidence={"uncategorized_text": text}, idempotency_key=key)
    except PaymentError as error:
        log.warning("dispute evidence not sent dispute=%s kind=%s", dispute.id, error.kind)
        flash(f"Stripe did not take the evidence: {error.user_message} Sending it again is safe.", "error")
        return redirect(url_for("admin.disputes"))
    dispute.evidence_text, dispute.evidence_sent_at = text, utcnow()
    status = dispute_status(answer.get("status"))
    if DisputeStatus.RANK[status] > DisputeStatus.RANK[DisputeStatus(dispute.status)]:
        dispute.status, dispute.stripe_status = status.value, str(answer.get("status"))[:40]
    db.session.commit()
    log.info("dispute evidence submitted dispute=%s status=%s", dispute.id, dispute.status)
    flash(f"Evidence for dispute {dispute.id} was submitted; it is {dispute.status}.", "success")
    return redirect(url_for("admin.disputes"))
