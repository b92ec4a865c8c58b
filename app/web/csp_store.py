"""The CSP violations kept: one row per kind (page path, directive, blocked origin) with its count, first and
last seen, and a sample of its first report.

The table is bounded (CSP_REPORT_MAX_KINDS) yet a flood of reports can never hide a violation on a payment page
(CSP_PAYMENT_PAGES, PCI DSS 11.6.1): a new kind past the cap evicts the kinds seen longest ago on other pages,
and a new kind on a payment page is always stored, counted in `shop_csp_payment_page_violations_total` (the
CspPaymentPageViolation alert) and logged as an error. Kinds not seen for CSP_REPORT_RETENTION_DAYS are pruned
by the worker's cron (`prune`).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.models import CspReport, db, utcnow
from app.settings import Settings
from app.telemetry import metrics

__all__ = ["record", "prune", "is_payment_page"]

log = logging.getLogger(__name__)


def is_payment_page(page: str, settings: Settings) -> bool:
    prefixes = [p.strip().rstrip("/") for p in settings.csp_payment_pages.split(",") if p.strip()]
    return any(page == prefix or page.startswith(prefix + "/") for prefix in prefixes)


def record(report: dict, settings: Settings) -> str:
    """Store a normalized report (app/web/csp_reports.py `normalize`) as a new kind or count it again:
    'new', 'repeat' or 'dropped' (the table is full of payment-page kinds and this one is from another page)."""
    identity = [report["page"], report["directive"], report["blocked"]]
    fingerprint = hashlib.sha256(json.dumps(identity).encode()).hexdigest()
    now = utcnow()
    if _bump(fingerprint, now):
        return "repeat"
    payment = is_payment_page(report["page"], settings)
    if not _make_room(payment, settings.csp_report_max_kinds):
        metrics.CSP_KINDS_LOST.labels("dropped").inc()
        return "dropped"
    db.session.add(CspReport(fingerprint=fingerprint, document_uri=report["page"], directive=report["directive"],
                             blocked_uri=report["blocked"], body=json.dumps(report), payment_page=payment,
                             sample=report["sample"], first_seen=now, last_seen=now))
    try:
        db.session.commit()
    except IntegrityError:  # the same kind arrived concurrently
        db.session.rollback()
        _bump(fingerprint, now)
        return "repeat"
    if payment:
        metrics.CSP_PAYMENT_PAGE_VIOLATIONS.labels(report["directive"]).inc()
        log.error("csp violation on a payment page directive=%s blocked=%s page=%s", report["directive"],
                  report["blocked"], report["page"])
    else:
        log.warning("csp violation directive=%s blocked=%s page=%s", report["directive"], report["blocked"],
                    report["page"])
    return "new"


def _bump(fingerprint: str, now) -> bool:
    bumped = db.session.execute(update(CspReport).where(CspReport.fingerprint == fingerprint)
                                .values(count=CspReport.count + 1, last_seen=now)).rowcount
    db.session.commit()
    return bool(bumped)


def _make_room(payment: bool, max_kinds: int) -> bool:
    """Below the cap, or after evicting the kinds seen longest ago off payment pages. A payment-page kind is
    stored even where nothing can be evicted: it is never the one dropped."""
    excess = db.session.scalar(select(func.count()).select_from(CspReport)) - max_kinds + 1
    if excess <= 0:
        return True
    oldest = (select(CspReport.id).where(CspReport.payment_page.is_(False))
              .order_by(CspReport.last_seen, CspReport.id).limit(excess))
    evicted = db.session.execute(delete(CspReport).where(CspReport.id.in_(oldest.scalar_subquery()))).rowcount
    db.session.commit()
    if evicted:
        metrics.CSP_KINDS_LOST.labels("evicted").inc(evicted)
    return payment or evicted >= excess


def prune(retention_days: int) -> int:
    """Delete the kinds not seen for `retention_days`; how many went."""
    cutoff = utcnow() - timedelta(days=retention_days)
    pruned = db.session.execute(delete(CspReport).where(CspReport.last_seen < cutoff)).rowcount
    db.session.commit()
    if pruned:
        log.info("pruned %d csp violation kinds not seen for %d days", pruned, retention_days)
    return pruned
