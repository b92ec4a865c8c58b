"""The shop's plain pages: terms of sale, privacy, shipping and returns, and how to reach the shop."""
from __future__ import annotations

from email.utils import parseaddr

from flask import Blueprint, current_app, render_template

bp = Blueprint("pages", __name__)


@bp.get("/terms")
def terms():
    return render_template("pages/terms.html")


@bp.get("/privacy")
def privacy():
    return render_template("pages/privacy.html")


@bp.get("/shipping-returns")
def shipping_returns():
    return render_template("pages/shipping_returns.html")


@bp.get("/contact")
def contact():
    # the address receipts are sent from, so a reply to a receipt and a message from this page reach the same inbox
    address = parseaddr(current_app.config["SETTINGS"].mail_from)[1]
    return render_template("pages/contact.html", address=address)
