"""Structured logs: one line per event with the request or job id; JSON in production, text in development."""
from __future__ import annotations

import json
import logging
import re
import uuid

from flask import g, has_request_context, request

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECRETS = re.compile(r"(sk|rk|pk|whsec)_(test|live)?_?[A-Za-z0-9]{6,}|pi_[A-Za-z0-9]+_secret_[A-Za-z0-9]+")
CONTEXT = ("request_id", "job_id", "event_id")
CARD_LIKE = re.compile(r"\b(?:\d[ -]?){13,19}\b")


def scrub(text: str) -> str:
    """Mask keys, client secrets and anything that looks like a card number."""
    return CARD_LIKE.sub("[card?]", SECRETS.sub(lambda m: m.group(0)[:8] + "[redacted]", text))


class ScrubbingFormatter(logging.Formatter):
    def __init__(self, as_json: bool):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        message = scrub(record.getMessage())
        if record.exc_info:
            message += "\n" + scrub(self.formatException(record.exc_info))
            record.exc_info = None
        context = {**_current_context(), **{k: getattr(record, k) for k in CONTEXT if getattr(record, k, None)}}
        if self.as_json:
            return json.dumps({"time": _iso(record.created), "level": record.levelname, "logger": record.name,
                               "message": message, **{k: v for k, v in context.items() if v}}, default=str)
        ids = " ".join(f"{k}={v}" for k, v in context.items() if v)
        return f"{self.formatTime(record)} {record.levelname} {record.name} {message}{' ' + ids if ids else ''}"


def _iso(created: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")


def _current_context() -> dict:
    """The request id inside a request; in an RQ job, the job id, the request id that enqueued it, and the
    event id of a `process_event` job."""
    if has_request_context():
        return {"request_id": g.get("request_id")}
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        return {}
    context = {"job_id": job.id, "request_id": (job.meta or {}).get("request_id")}
    if job.func_name.endswith("process_event") and job.args:
        context["event_id"] = job.args[0]
    return context


def configure_logging(settings) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, ScrubbingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(ScrubbingFormatter(settings.log_json))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("werkzeug", "stripe", "rq.cron"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def install_request_id(app) -> None:
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def return_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response
