"""Stripe's currency rules: which codes exist, their decimals and the smallest amount a charge may have."""

from stripe_emulator.errors import invalid

# Currencies Stripe supports for card payments (its "supported currencies" page).
SUPPORTED = frozenset("""
usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad cdf chf
clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils
inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn
myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos
srd std szl thb tjs tnd top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
""".split())

ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
# Three-decimal currencies: amounts are in thousandths but must be a multiple of 10 for card payments.
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

# Minimum charge amounts, in the currency's smallest unit (Stripe's "minimum and maximum charge amounts" table).
# Other currencies: the equivalent of 0.50 USD, which the emulator does not convert; it asks for 50 units.
MINIMUMS = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500, "dkk": 250,
    "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300,
    "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "aud": "$", "cad": "$", "nzd": "$", "sgd": "$",
           "hkd": "$", "mxn": "$", "brl": "R$", "chf": "CHF ", "inr": "₹"}


def currency_code(value) -> str:
    currency = str(value).lower()
    if currency not in SUPPORTED:
        raise invalid(f"Invalid currency: {currency}. Stripe currently supports these currencies: "
                      f"{', '.join(sorted(SUPPORTED))}", code="parameter_invalid_string", param="currency")
    return currency


def decimals(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def display(amount: int, currency: str) -> str:
    places = decimals(currency)
    number = f"{amount / 10 ** places:,.{places}f}" if places else f"{amount:,}"
    return f"{SYMBOLS.get(currency, '')}{number} {currency}"


def check_amount(amount: int, currency: str, param="amount"):
    """Stripe's per-currency minimum, and three-decimal amounts that must end in 0."""
    minimum = MINIMUMS.get(currency, 50)
    if amount < minimum:
        raise invalid(f"Amount must be at least {display(minimum, currency)}", code="amount_too_small",
                      param=param)
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid(f"Invalid amount: {amount}. Amounts in {currency} must be a multiple of 10 (the last "
                      "decimal place must be 0).", code="invalid_amount", param=param)
