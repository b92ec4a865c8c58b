"""Money is an integer number of minor units beside an ISO currency code; this formats it for people."""
from __future__ import annotations

ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "pyg", "ugx", "xof", "xaf", "bif", "djf", "gnf", "kmf", "mga",
                "rwf", "vuv", "xpf"}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


def format_money(amount: int, currency: str) -> str:
    currency = currency.lower()
    symbol = SYMBOLS.get(currency, currency.upper() + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    return f"{'-' if amount < 0 else ''}{symbol}{abs(amount) // 100:,}.{abs(amount) % 100:02d}"
