from app.money import format_money


def test_minor_units_are_formatted_per_currency():
    assert format_money(3495, "usd") == "$34.95"
    assert format_money(100000, "eur") == "€1,000.00"
    assert format_money(500, "jpy") == "¥500"
    assert format_money(5, "chf") == "CHF 0.05"
