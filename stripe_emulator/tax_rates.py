"""Stripe Tax's answers, made deterministic: one rate per place, and the rounding of tax per line.

The emulator collects tax in the places listed below (as if the account were registered there) and nowhere
else ("not_collecting", 0 %). Shipping is taxed at the place's rate. All arithmetic is on Decimal and whole
minor units; a half unit rounds up.
"""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from stripe_emulator.errors import invalid

# (country, state or None) -> (percentage as Stripe writes it, tax type)
RATES = {
    ("US", "CA"): ("7.25", "sales_tax"),
    ("US", "NY"): ("8.875", "sales_tax"),
    ("US", "TX"): ("6.25", "sales_tax"),
    ("US", "WA"): ("10.25", "sales_tax"),
    ("DE", None): ("19.0", "vat"),
    ("FR", None): ("20.0", "vat"),
    ("NL", None): ("21.0", "vat"),
    ("IE", None): ("23.0", "vat"),
    ("GB", None): ("20.0", "vat"),
    ("CA", None): ("5.0", "gst"),
}
STATE_NAMES = {"CA": "California", "NY": "New York", "TX": "Texas", "WA": "Washington"}
COUNTRY_NAMES = {"US": "United States", "DE": "Germany", "FR": "France", "NL": "Netherlands", "IE": "Ireland",
                 "GB": "United Kingdom", "CA": "Canada"}
TAX_TYPE_NAMES = {"sales_tax": "Sales Tax", "vat": "VAT", "gst": "GST"}
US_STATES = frozenset("""AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ
NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM""".split())
# The first three digits of a ZIP code, for an address given without a state (the taxed states only).
ZIP3_STATES = [(range(900, 962), "CA"), (range(100, 150), "NY"), (range(750, 800), "TX"), (range(885, 886), "TX"),
               (range(980, 995), "WA")]
US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
LOCATION_INVALID = "We could not determine the customer's tax location based on the provided customer address."


@dataclass(frozen=True)
class Place:
    country: str
    state: str | None
    percentage: str  # "7.25"
    tax_type: str  # sales_tax, vat, gst
    reason: str  # standard_rated or not_collecting

    @property
    def rate(self) -> Decimal:
        return Decimal(self.percentage) / 100


def locate(address: dict) -> Place:
    """The taxing place of a customer address, or Stripe's 400 customer_tax_location_invalid."""
    country = str(address.get("country") or "").upper()
    if not COUNTRY.match(country):
        raise location_invalid()
    state = str(address.get("state") or "").upper() or None
    if country == "US":
        if not US_ZIP.match(str(address.get("postal_code") or "")) or (state and state not in US_STATES):
            raise location_invalid()
        state = state or _state_of_zip(address["postal_code"])
    found = RATES.get((country, state if country == "US" else None))
    if found is None:
        tax_type = "sales_tax" if country == "US" else "vat"
        return Place(country, state if country == "US" else None, "0.0", tax_type, "not_collecting")
    percentage, tax_type = found
    return Place(country, state if country == "US" else None, percentage, tax_type, "standard_rated")


def location_invalid():
    return invalid(LOCATION_INVALID, code="customer_tax_location_invalid", param="customer_details[address]")


def _state_of_zip(postal_code: str):
    zip3 = int(postal_code[:3])
    return next((state for numbers, state in ZIP3_STATES if zip3 in numbers), None)


def round_units(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_of(amount: int, rate: Decimal, inclusive: bool) -> int:
    """Tax on one line: on top of ``amount`` (exclusive), or the part of ``amount`` that is tax (inclusive)."""
    if inclusive:
        return amount - round_units(Decimal(amount) / (1 + rate))
    return round_units(Decimal(amount) * rate)
