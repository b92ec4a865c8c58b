"""Shopper email addresses: exactly one mailbox, normalised (email-validator), or a clear refusal.

Checked when the shopper gives it (checkout) and again before a receipt is sent: an address stored before the
check, or edited in the database, is parked for a person rather than handed to SMTP, where `a,b@x` would reach
two people and a malformed one would fail the job forever.
"""
from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

__all__ = ["InvalidAddress", "mailbox"]

MAX_LENGTH = 254  # the outbox column, and RFC 5321's limit for a path


class InvalidAddress(ValueError):
    """Not one deliverable-looking mailbox; the message says why in the shopper's words."""


def mailbox(address: str) -> str:
    """The normalised single mailbox `address` names (surrounding spaces dropped, the domain lower-cased and
    IDNA-normalised), or InvalidAddress. No DNS lookup: checkout must never wait on a resolver."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddress("Please enter your email address.")
    try:
        checked = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False,
                                 allow_quoted_local=False, allow_domain_literal=False, allow_display_name=False)
    except EmailNotValidError as error:
        raise InvalidAddress(f"Please enter a valid email address ({error}).") from None
    if len(checked.normalized) > MAX_LENGTH:
        raise InvalidAddress("Please enter a shorter email address.")
    return checked.ascii_email or checked.normalized
