"""Money is an integer number of minor units beside an ISO currency code; this formats it for people.

The minor-unit exponent follows Stripe (zero-decimal and three-decimal currencies); the symbol, its position,
the grouping and the decimal mark follow the reader's locale (CLDR, through Babel). Floats are refused.
"""
from __future__ import annotations

import copy
import functools
import re
from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import parse_pattern

__all__ = ["DEFAULT_LOCALE", "SUPPORTED_LOCALES", "format_money", "minor_unit_exponent", "negotiate_locale",
           "request_locale", "to_decimal"]

# Stripe's zero-decimal currencies (amount 500 means 500 units) and three-decimal ones (amount 5000 = 5.000).
ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf",
                "xof", "xpf"}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
DEFAULT_LOCALE = "en_US"
SUPPORTED_LOCALES = ("en_US", "en_GB", "en_CA", "en_AU", "en_IE", "de_DE", "de_AT", "de_CH", "fr_FR", "fr_CA",
                     "es_ES", "it_IT", "nl_NL", "ja_JP", "sv_SE", "pl_PL", "pt_BR")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")  # "CHF0.05" -> "CHF 0.05" (CLDR spacing)


def minor_unit_exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units -> an exact Decimal in major units (3495 usd -> 34.95)."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money is an integer number of minor units, not {type(amount).__name__}")
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


def format_money(amount: int, currency: str, locale: str | None = None) -> str:
    """3495, "usd" -> "$34.95" (en_US) or "34,95 $" (de_DE). Unknown locales fall back to en_US."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money is an integer number of minor units, not {type(amount).__name__}")
    return _formatted(amount, currency, locale)


@functools.lru_cache(maxsize=4096)  # a page formats the same few prices on every request: Babel's work, once
def _formatted(amount: int, currency: str, locale: str | None) -> str:
    exponent = minor_unit_exponent(currency)
    where = _locale(locale)
    pattern = copy.copy(parse_pattern(where.currency_formats["standard"]))
    pattern.frac_prec = (exponent, exponent)  # Stripe's exponent, not CLDR's (they differ for a few)
    text = pattern.apply(to_decimal(amount, currency), where, currency=currency.upper(), currency_digits=False)
    return _LETTER_DIGIT.sub("\u00a0", text)


def negotiate_locale(accept_languages) -> str:
    """The best supported locale for an Accept-Language header (werkzeug's LanguageAccept, or a list)."""
    values = accept_languages.values() if hasattr(accept_languages, "values") else (accept_languages or [])
    wanted = [str(value).replace("-", "_") for value in values]
    for value in wanted:
        if value in SUPPORTED_LOCALES:
            return value
    for value in wanted:  # no exact match: the first supported locale of the same language ("fr_CH" -> fr_FR)
        language = value.split("_")[0].lower()
        match = next((loc for loc in SUPPORTED_LOCALES if loc.split("_")[0] == language), None)
        if match:
            return match
    return DEFAULT_LOCALE


def request_locale() -> str:
    """The current request's locale (its Accept-Language), or the default outside a request."""
    from flask import g, has_request_context, request

    if not has_request_context():
        return DEFAULT_LOCALE
    if "money_locale" not in g:  # once per request, not once per price
        g.money_locale = negotiate_locale(request.accept_languages)
    return g.money_locale


def _locale(name: str | None) -> Locale:
    try:
        return Locale.parse(name or DEFAULT_LOCALE)
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale.parse(DEFAULT_LOCALE)


def init_app(app) -> None:
    """The `money` template filter: an amount in minor units, in the shopper's locale."""
    app.jinja_env.filters["money"] = lambda amount, currency: format_money(amount, currency, request_locale())
