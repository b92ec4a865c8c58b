"""Money formatting: Stripe's minor units, the reader's locale."""
from decimal import Decimal

import pytest

from app.money import format_money, minor_unit_exponent, negotiate_locale, to_decimal

NBSP = "\u00a0"


def test_minor_units_are_formatted_per_currency():
    assert format_money(3495, "usd") == "$34.95"
    assert format_money(100000, "eur") == "€1,000.00"
    assert format_money(500, "jpy") == "¥500"
    assert format_money(5, "chf") == f"CHF{NBSP}0.05"


def test_zero_and_negative_amounts_keep_their_decimals():
    assert format_money(0, "gbp") == "£0.00"
    assert format_money(-1250, "usd") == "-$12.50"


def test_three_decimal_currencies_use_three_digits():
    assert minor_unit_exponent("KWD") == 3
    assert format_money(12345, "kwd") == f"KWD{NBSP}12.345"


def test_zero_decimal_currencies_are_whole_units_in_every_locale():
    assert format_money(1500, "jpy", "de_DE") == f"1.500{NBSP}¥"
    assert format_money(1500, "krw", "en_US") == "₩1,500"


def test_the_locale_decides_symbol_position_grouping_and_decimal_mark():
    assert format_money(123450, "eur", "de_DE") == f"1.234,50{NBSP}€"
    assert format_money(123450, "eur", "fr_FR") == f"1\u202f234,50{NBSP}€"
    assert format_money(3495, "usd", "en_GB") == "US$34.95"


def test_an_unknown_locale_falls_back_to_english():
    assert format_money(3495, "usd", "xx_YY") == "$34.95"
    assert format_money(3495, "usd", None) == "$34.95"


@pytest.mark.parametrize("amount", [34.95, "3495", None, True])
def test_money_is_never_a_float_or_a_string(amount):
    with pytest.raises(TypeError):
        format_money(amount, "usd")


def test_conversion_to_decimal_is_exact():
    assert to_decimal(3495, "usd") == Decimal("34.95")
    assert to_decimal(500, "JPY") == Decimal("500")


@pytest.mark.parametrize("header, locale", [
    (["de-DE", "en"], "de_DE"),
    (["fr-CH", "en"], "fr_FR"),
    (["de"], "de_DE"),
    (["zz", "en-GB"], "en_GB"),
    ([], "en_US"),
    (None, "en_US"),
])
def test_the_locale_is_negotiated_from_accept_language(header, locale):
    assert negotiate_locale(header) == locale
