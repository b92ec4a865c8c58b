"""Development only: /dev/mail shows the receipts `shop dev`'s SMTP sink caught (instance/mail/*.eml)."""
from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import Blueprint, current_app, render_template

bp = Blueprint("devmail", __name__)
SHOWN = 50


def caught_mail(directory: Path) -> list[dict]:
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:SHOWN]:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        body = message.get_body(preferencelist=("plain",))
        messages.append({"subject": message["Subject"], "to": message["To"], "date": message["Date"],
                         "message_id": message["Message-ID"], "body": body.get_content() if body else ""})
    return messages


@bp.get("/dev/mail")
def mailbox():
    directory = Path(current_app.config.get("MAIL_SINK_DIR") or Path(current_app.instance_path) / "mail")
    return render_template("dev/mail.html", messages=caught_mail(directory), directory=directory)
