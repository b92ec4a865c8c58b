"""The admin pages, behind named admin accounts: health, orders and their timelines, refunds, dispatch (capture),
cancel, authorisations waiting for capture, discount codes, the webhook event
inbox with replay, failed jobs with retry, CSP reports, the audit trail. Server-rendered; every form carries a
CSRF token.

With no admin account and no ADMIN_PASSWORD_HASH every page answers 404. `require_admin` guards every route of
`bp`, whichever module adds it: anonymous visitors (and expired or revoked sessions) are sent to the login page
(GET) or refused with 403 (anything else).
"""
from __future__ import annotations

import secrets

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from app.events.replay import ReplayError, failed_jobs, replay_event, retry_job
from app.models import CspReport, EventStatus, Order, OrderState, Refund, StripeEvent, db, utcnow
from app.money import to_decimal
from app.payments import get_gateway
from app.admin import audit, auth, commands, queries
from app.admin.cancel import CancelError, cancel_order
from app.admin.capture import CaptureError, authorisations, dispatch as dispatch_order, settlement_of
from app.admin.refunds import (BadAmount, RefundError, parse_amount, parse_lines, refundable, refundable_parts,
                               request_refund, send)
from app.orders.breakdown import breakdown

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 100
OPEN = ("admin.login",)


@bp.before_request
def require_admin():
    if not auth.enabled():
        abort(404)
    if auth.current_account() is not None or request.endpoint in OPEN:
        return None
    if request.method == "GET":
        return redirect(url_for("admin.login", next=request.full_path if request.query_string else request.path))
    abort(403)


@bp.context_processor
def signed_in():
    return {"admin_account": g.get("admin_account")}


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        form = request.form
        try:
            if auth.attempt_login(form.get("name", "").strip(), form.get("password", ""), form.get("code", "")):
                target = request.args.get("next", "")
                return redirect(target if target.startswith("/admin") else url_for("admin.dashboard"))
            error, status = "That name, password or code is not right.", 401
        except auth.LockedOut as locked:
            error, status = f"Too many failed attempts. Try again in {locked.seconds // 60 + 1} minutes.", 429
        except auth.NotCounted:
            error, status = "The login cannot be checked just now. Try again in a minute.", 503
    response = current_app.make_response((render_template("admin/login.html", error=error), status))
    if status in (429, 503):
        response.headers["Retry-After"] = "60"
    return response


@bp.post("/logout")
def logout():
    auth.logout()
    return redirect(url_for("admin.login"))


@bp.get("/")
def dashboard():
    return render_template("admin/dashboard.html", panel=queries.health())


@bp.get("/orders")
def orders():
    state = request.args.get("state", "")
    query = select(Order).order_by(Order.id.desc()).limit(PAGE)
    if state:
        query = query.where(Order.state == state)
    return render_template("admin/orders.html", orders=db.session.scalars(query).all(), state=state,
                           states=[s.value for s in OrderState])


@bp.get("/orders/<public_id>")
def order(public_id: str):
    return _order_page(_order(public_id))


def _order_page(found: Order, status: int = 200):
    left = refundable(found)
    return render_template("admin/order.html", order=found, timeline=queries.timeline(found),
                           settlement=settlement_of(found),
                           capturable_text=str(to_decimal(found.amount, found.currency)),
                           disputes=queries.disputes(found),
                           refunds=queries.refunds(found), refundable=left,
                           refundable_text=str(to_decimal(left, found.currency)),
                           refundable_parts=refundable_parts(found),
                           breakdown=breakdown(found, current_app.config["SETTINGS"]),
                           form_token=secrets.token_hex(16), lines_form_token=secrets.token_hex(16),
                           actions=audit.about(found.public_id)), status


@bp.post("/orders/<public_id>/refund")
def refund(public_id: str):
    found = _order(public_id)
    form_token = request.form.get("form_token", "")
    if not 16 <= len(form_token) <= 64:
        abort(400)
    amount = None
    try:
        # by line: the amount is computed on the server from the order's breakdown, never read from the form
        if request.form.get("by") == "lines":
            made = request_refund(found, None, form_token, get_gateway(current_app), request.form.get("reason", ""),
                                  lines=parse_lines(found, request.form))
        else:
            amount = parse_amount(request.form.get("amount", ""), found.currency)
            made = request_refund(found, amount, form_token, get_gateway(current_app), request.form.get("reason", ""))
        amount = made.amount
        outcome = f"refund {made.number} {made.status}"
        flash(f"Refund {made.number} is {made.status}; the order changes when Stripe confirms it.", "success")
    except BadAmount as error:  # bad input: said at once, nothing stored, nothing asked of Stripe
        flash(str(error), "error")
        return _order_page(found, 400)
    except RefundError as error:
        outcome = str(error)
        flash(str(error), "error")
    audit.record(g.admin_account.name, "refund", public_id, outcome, amount, found.currency)
    return redirect(url_for("admin.order", public_id=public_id))


@bp.post("/orders/<public_id>/refunds/<int:number>/retry")
def retry_refund(public_id: str, number: int):
    found = _order(public_id)
    row = db.session.scalars(select(Refund).where(Refund.order_id == found.id, Refund.number == number)).first()
    if row is None:
        abort(404)
    try:
        if row.status == "requested":
            send(row, found, get_gateway(current_app))
        outcome = f"refund {row.number} {row.status}"
        flash(f"Refund {row.number} is {row.status}.", "success")
    except RefundError as error:
        outcome = str(error)
        flash(str(error), "error")
    audit.record(g.admin_account.name, "refund-retry", public_id, outcome, row.amount, row.currency)
    return redirect(url_for("admin.order", public_id=public_id))


@bp.post("/orders/<public_id>/dispatch")
def dispatch(public_id: str):
    """Capture an authorised order (all of it, or the amount typed) and mark it dispatched; a paid order is
    just marked dispatched. Any number of clicks capture once (app/admin/capture.py)."""
    found = _order(public_id)
    amount = None
    try:
        if request.form.get("amount"):
            amount = parse_amount(request.form["amount"], found.currency)
        outcome = dispatch_order(found, get_gateway(current_app), amount)
        flash(f"Order {found.number} is {outcome}.", "success")
    except BadAmount as error:
        flash(str(error).replace("refund", "capture"), "error")
        return _order_page(found, 400)
    except CaptureError as error:
        outcome = str(error)
        flash(outcome, "error")
    audit.record(g.admin_account.name, "dispatch", public_id, outcome, amount or found.amount, found.currency)
    return redirect(url_for("admin.order", public_id=public_id))


@bp.post("/orders/<public_id>/cancel")
def cancel(public_id: str):
    found = _order(public_id)
    try:
        outcome = cancel_order(found, get_gateway(current_app), request.form.get("reason", ""))
        flash(f"Order {found.number}: {outcome}.", "success")
    except CancelError as error:
        outcome = str(error)
        flash(outcome, "error")
    audit.record(g.admin_account.name, "cancel", public_id, outcome)
    return redirect(url_for("admin.order", public_id=public_id))


@bp.get("/authorisations")
def authorisations_page():
    """Authorised orders waiting for dispatch, oldest first: Stripe releases an authorisation after 7 days."""
    settings = current_app.config["SETTINGS"]
    return render_template("admin/authorisations.html", held=authorisations(), now=utcnow(),
                           alert_days=settings.authorisation_alert_days)


@bp.get("/events")
def events():
    status = request.args.get("status", "")
    query = select(StripeEvent).order_by(StripeEvent.received_at.desc()).limit(PAGE)
    if status:
        query = query.where(StripeEvent.status == status)
    return render_template("admin/events.html", events=db.session.scalars(query).all(), status=status,
                           statuses=[s.value for s in EventStatus])


@bp.post("/events/<event_id>/replay")
def replay(event_id: str):
    try:
        outcome = str(replay_event(event_id))
        flash(f"Replay of {event_id}: {outcome}.", "success")
    except ReplayError as error:
        outcome = str(error)
        flash(outcome, "error")
    audit.record(g.admin_account.name, "replay", event_id, outcome)
    return redirect(url_for("admin.events", status=request.args.get("status", "")))


@bp.get("/jobs")
def jobs():
    try:
        found, error = failed_jobs(), None
    except Exception as failure:  # Redis down: say so
        found, error = [], f"{type(failure).__name__}: {failure}"
    return render_template("admin/jobs.html", jobs=found, error=error)


@bp.post("/jobs/<queue>/<job_id>/retry")
def retry(queue: str, job_id: str):
    try:
        retry_job(queue, job_id)
        outcome = f"back on the {queue} queue"
        flash(f"Job {job_id} is back on the {queue} queue.", "success")
    except ReplayError as error:
        outcome = str(error)
        flash(outcome, "error")
    audit.record(g.admin_account.name, "job-retry", job_id, outcome)
    return redirect(url_for("admin.jobs"))


@bp.get("/csp-reports")
def csp_reports():
    reports = db.session.scalars(select(CspReport).order_by(CspReport.payment_page.desc(), CspReport.last_seen.desc())
                                 .limit(PAGE)).all()
    return render_template("admin/csp_reports.html", reports=reports)


@bp.get("/audit")
def audit_trail():
    return render_template("admin/audit.html", actions=audit.latest())


def _order(public_id: str) -> Order:
    found = db.session.scalars(select(Order).where(Order.public_id == public_id)).first()
    if found is None:
        abort(404)
    return found


from app.admin import disputes  # noqa: E402,F401 - registers the dispute pages on `bp`
from app.admin import discounts  # noqa: E402,F401 - registers the discount code pages on `bp`


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(commands.admin)
