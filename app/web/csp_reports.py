"""POST /csp-report: take the CSP violations browsers report; `shop csp-report` lists them.

Accepts `application/csp-report` (one report, sent for `report-uri`) and `application/reports+json` (a list,
sent by the Reporting API for `report-to`). A body is at most MAX_BODY bytes and carries at most MAX_REPORTS
reports. Each report is reduced to what identifies its kind: the page's path (ids masked; never the query or
fragment, which may carry client secrets), the effective directive and the blocked origin (scheme and host
only), plus a short scrubbed sample; `csp_store.py` keeps one row per kind. No CSRF token (browsers send these
without one); rate-limited per client in `limits.py` (RATE_LIMIT_CSP_REPORT).

What can fail: a body that is not a report gets a 400, an unknown content type a 415, too large a 413.
"""
from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlsplit

import click
from flask import Blueprint, Flask, current_app, jsonify, request
from flask.cli import with_appcontext
from sqlalchemy import select

from app.telemetry import metrics
from app.telemetry.logs import scrub
from app.models import CspReport, db
from app.web import csp_store
from app.web.security import csrf

__all__ = ["bp", "init_app", "MAX_BODY", "parse", "normalize"]

bp = Blueprint("csp_reports", __name__)
MAX_BODY = 8 * 1024
MAX_REPORTS = 20
CONTENT_TYPES = {"application/csp-report", "application/reports+json", "application/json"}
DIRECTIVES = {"script-src", "script-src-elem", "script-src-attr", "style-src", "style-src-elem", "style-src-attr",
              "img-src", "frame-src", "connect-src", "font-src", "object-src", "base-uri", "form-action",
              "frame-ancestors", "default-src", "child-src", "worker-src", "manifest-src", "media-src"}
KEYWORDS = {"inline", "eval", "wasm-eval", "data", "blob", "self", "trusted-types-policy", "trusted-types-sink"}
SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,29}")
LONG_ID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


class BadReport(ValueError):
    pass


@bp.post("/csp-report")
def receive():
    if request.mimetype not in CONTENT_TYPES:
        return _refuse("Send a CSP report (application/csp-report or application/reports+json).", 415)
    if (request.content_length or 0) > MAX_BODY:
        return _refuse(f"A CSP report is at most {MAX_BODY} bytes.", 413)
    body = request.get_data(cache=True)  # capped at MAX_BODY by limits.BODY_CAPS
    if len(body) > MAX_BODY:
        return _refuse(f"A CSP report is at most {MAX_BODY} bytes.", 413)
    try:
        reports = parse(body)
    except BadReport as error:
        return _refuse(str(error), 400)
    settings = current_app.config["SETTINGS"]
    for report in reports:
        metrics.CSP_REPORTS.labels(report["directive"]).inc()
        csp_store.record(report, settings)
    return "", 204


def parse(body: bytes) -> list[dict]:
    """The normalized reports in a body of either format."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadReport("The body is not JSON.") from None
    if isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        raw = data["csp-report"]
        return [normalize(document=raw.get("document-uri"), blocked=raw.get("blocked-uri"),
                          directive=raw.get("effective-directive") or raw.get("violated-directive"),
                          source=raw.get("source-file"), line=raw.get("line-number"),
                          sample=raw.get("script-sample"), disposition=raw.get("disposition"))]
    if isinstance(data, list):
        if len(data) > MAX_REPORTS:
            raise BadReport(f"At most {MAX_REPORTS} reports per request.")
        items = [item.get("body") for item in data if isinstance(item, dict)
                 and item.get("type") == "csp-violation" and isinstance(item.get("body"), dict)]
        return [normalize(document=b.get("documentURL"), blocked=b.get("blockedURL"),
                          directive=b.get("effectiveDirective"), source=b.get("sourceFile"),
                          line=b.get("lineNumber"), sample=b.get("sample"), disposition=b.get("disposition"))
                for b in items]
    raise BadReport("The body is not a CSP report.")


def normalize(document, blocked, directive, source=None, line=None, sample=None, disposition=None) -> dict:
    directive = _text(directive, 100).split(" ")[0]
    return {"page": _page(document), "directive": directive if directive in DIRECTIVES else "other",
            "blocked": _origin(blocked), "source": _page(source),
            "line": line if isinstance(line, int) and 0 <= line < 10**9 else None,
            "sample": scrub(_text(sample, 80)), "disposition": _text(disposition, 20) or "enforce"}


def _page(value) -> str:
    """A document's path, ids masked: the page a violation happened on, not the shopper's own URL."""
    parts = urlsplit(_text(value, 2000))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return LONG_ID.sub("{id}", scrub(unquote(parts.path) or "/"))[:200]


def _origin(value) -> str:
    """Where a blocked resource came from: scheme, host and port of an URL, the scheme of another (data:,
    blob:), or a CSP keyword such as 'inline'."""
    text = _text(value, 2000)
    if text in KEYWORDS or not text:
        return text
    parts = urlsplit(text)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # an unparsable port
        return "other"
    if parts.scheme in ("http", "https", "ws", "wss") and host:
        return scrub(f"{parts.scheme}://{host}" + (f":{port}" if port else ""))[:200]
    return parts.scheme + ":" if SCHEME.fullmatch(parts.scheme) else "other"


def _text(value, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _refuse(message: str, status: int):
    return jsonify(status="error", error=message), status


@click.command("csp-report")
@click.option("--limit", default=50, show_default=True, help="How many kinds to list, most recent first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
def csp_report_command(limit: int, as_json: bool):
    """List the CSP violations browsers reported (one line per kind, with its count), payment pages first."""
    rows = db.session.scalars(select(CspReport).order_by(CspReport.payment_page.desc(), CspReport.last_seen.desc())
                              .limit(limit)).all()
    if not rows:
        click.echo("no CSP violations reported")
    for row in rows:
        if as_json:
            click.echo(json.dumps({"count": row.count, "payment_page": row.payment_page,
                                   "first_seen": row.first_seen.isoformat(),
                                   "last_seen": row.last_seen.isoformat(), **json.loads(row.body)}))
        else:
            click.echo(f"{row.last_seen:%Y-%m-%d %H:%M:%S}Z  x{row.count:<5} {row.directive:<16} "
                       f"blocked={row.blocked_uri or '-'}  page={row.document_uri or '-'}"
                       + ("  PAYMENT PAGE" if row.payment_page else ""))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf.exempt(bp)  # browsers send reports without a token; size- and rate-limited
    app.cli.add_command(csp_report_command)
