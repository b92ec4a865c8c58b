"""Pricing: shipping rates and the free-shipping threshold, percent and fixed discounts, their share per line,
totals with tax inclusive or exclusive, and the SHIPPING_RATES text. Integer minor units only."""
import pytest

from app.checkout.pricing import (Item, Offer, Rate, UnknownRate, allocate, discount_for, parse_rates, price, rate_for,
                                  shipping_rates, total, zone)
from app.settings import Settings

SETTINGS = Settings(secret_key="test-secret-" + "x" * 32)  # the default rates: domestic is US
STANDARD = Rate("standard", "Standard", 599, 3, 5)


def _offer(kind="percent", value=10, min_subtotal=0):
    return Offer(code="SAVE", kind=kind, value=value, min_subtotal=min_subtotal)


# ---- shipping -------------------------------------------------------------------------------------------------
def test_the_default_rates_read_as_zones_of_methods_with_windows():
    assert parse_rates(SETTINGS.shipping_rates) == {
        "domestic": {"standard": (599, 3, 5), "express": (1499, 1, 2)},
        "international": {"standard": (1999, 6, 10), "express": (3999, 2, 4)}}


def test_home_countries_are_domestic_and_the_rest_international():
    assert zone(SETTINGS, "US") == "domestic" and zone(SETTINGS, "us") == "domestic"
    assert zone(SETTINGS, "DE") == "international"


def test_standard_comes_first_and_is_free_from_the_threshold_on():
    below = shipping_rates(SETTINGS, "US", 7499)
    assert [(r.method, r.label, r.amount) for r in below] == [("standard", "Standard", 599),
                                                              ("express", "Express", 1499)]
    assert [r.amount for r in shipping_rates(SETTINGS, "US", 7500)] == [0, 1499]  # at the threshold
    assert [r.amount for r in shipping_rates(SETTINGS, "US", 7501)] == [0, 1499]
    assert [r.amount for r in shipping_rates(SETTINGS, "GB", 10**6)] == [0, 3999]


def test_a_threshold_of_zero_never_makes_shipping_free():
    never = SETTINGS.with_overrides(free_shipping_threshold=0)
    assert [r.amount for r in shipping_rates(never, "US", 0)] == [599, 1499]
    assert [r.amount for r in shipping_rates(never, "US", 10**9)] == [599, 1499]


def test_a_rate_says_its_delivery_window():
    assert rate_for(SETTINGS, "FR", 100, "standard").window == "6\u201310 business days"
    assert Rate("express", "Express", 1499, 1, 1).window == "1 business day"
    assert Rate("express", "Express", 1499, 2, 2).window == "2 business days"


def test_an_unknown_method_or_a_country_not_shipped_to_is_refused():
    with pytest.raises(UnknownRate):
        rate_for(SETTINGS, "US", 100, "overnight")
    with pytest.raises(KeyError):
        rate_for(SETTINGS, "US", 100, "")
    with pytest.raises(ValueError):
        shipping_rates(SETTINGS, "JP", 100)


@pytest.mark.parametrize("text", [
    "",
    "domestic:standard=599@3-5",  # a zone missing
    "domestic:standard=599@3-5;international:standard=1999@6-10,express=3999@2-4",  # domestic has no express
    "domestic:standard=5.99@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=-1@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=599@5-3,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=599@0-3,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=599,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=599@3-5,overnight=1@1-1,express=1499@1-2;international:standard=1@1-1,express=1@1-1",
    "moon:standard=599@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic standard=599@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",
    "domestic:standard=١٢@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4",  # other digits
])
def test_rates_that_cannot_be_read_are_refused_saying_why(text):
    with pytest.raises(ValueError) as refused:
        parse_rates(text)
    assert str(refused.value)


def test_the_app_refuses_to_start_with_rates_it_cannot_read():
    with pytest.raises(RuntimeError, match="SHIPPING_RATES.*no express"):
        SETTINGS.with_overrides(shipping_rates="domestic:standard=1@1-2;international:standard=1@1-2,"
                                               "express=2@1-1").check()
    with pytest.raises(RuntimeError, match="FREE_SHIPPING_THRESHOLD"):
        SETTINGS.with_overrides(free_shipping_threshold=-1).check()
    SETTINGS.check()


# ---- discounts ------------------------------------------------------------------------------------------------
def test_a_percent_discount_rounds_half_up_to_the_minor_unit():
    assert discount_for(_offer(value=10), 1995) == 200  # 199.5 -> 200
    assert discount_for(_offer(value=10), 1994) == 199  # 199.4 -> 199
    assert discount_for(_offer(value=15), 333) == 50  # 49.95 -> 50
    assert discount_for(_offer(value=15), 330) == 50  # 49.5 -> 50
    assert discount_for(_offer(value=1), 49) == 0  # 0.49 -> 0
    assert discount_for(_offer(value=100), 4321) == 4321


def test_a_fixed_discount_is_capped_at_the_subtotal():
    assert discount_for(_offer("fixed", 500), 2000) == 500
    assert discount_for(_offer("fixed", 500), 300) == 300


def test_below_the_minimum_subtotal_there_is_no_discount():
    assert discount_for(_offer("fixed", 500, min_subtotal=5000), 4999) == 0
    assert discount_for(_offer("fixed", 500, min_subtotal=5000), 5000) == 500
    assert discount_for(_offer(value=20, min_subtotal=5000), 4999) == 0
    assert discount_for(None, 5000) == 0


def test_an_offer_with_impossible_terms_is_refused():
    for kind, value in (("percent", 0), ("percent", 101), ("bogo", 1), ("fixed", -1)):
        with pytest.raises(ValueError):
            _offer(kind, value)


# ---- sharing a discount over the lines -----------------------------------------------------------------------
@pytest.mark.parametrize("discount,amounts", [
    (100, [1, 1, 1]), (2, [1, 1, 1]), (1, [3, 3, 3]), (10, [333, 333, 334]), (999, [1000, 1, 1]),
    (7, [2, 3, 5]), (4321, [4321]), (0, [5, 6]), (12, [12, 0, 0]), (101, [17, 33, 51, 0]),
    (5, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]),
])
def test_allocate_sums_exactly_and_never_passes_a_line(discount, amounts):
    if discount > sum(amounts):
        with pytest.raises(ValueError):
            allocate(discount, amounts)
        return
    shares = allocate(discount, amounts)
    assert sum(shares) == discount
    assert all(0 <= share <= amount for share, amount in zip(shares, amounts))


def test_allocate_gives_leftover_units_to_the_largest_remainders_earlier_lines_first():
    assert allocate(10, [333, 333, 334]) == [3, 3, 4]
    assert allocate(1, [3, 3, 3]) == [1, 0, 0]
    assert allocate(7, [2, 3, 5]) == [1, 2, 4]  # 1.4, 2.1, 3.5: the .5 and the .4 get the two left over
    assert allocate(6, [3, 3, 4]) == [2, 2, 2]  # 1.8, 1.8, 2.4


def test_each_line_gets_its_share_of_the_discount_and_the_shares_sum_to_it():
    items = [Item("mug", "Enamel mug", 1250, 3), Item("filter", "Paper filters", 399, 1),
             Item("grinder", "Burr grinder", 8999, 1)]
    priced = price(items, currency="usd", offer=_offer(value=15), rate=STANDARD)
    assert priced.subtotal == 3750 + 399 + 8999 == 13148
    assert priced.discount == 1972  # 1972.2
    # 562.43, 59.84, 1349.72: two units left over go to the .84 and the .72
    assert [line.discount for line in priced.items] == [562, 60, 1350]
    assert sum(line.amount for line in priced.items) == priced.goods == 13148 - 1972
    assert priced.code == "SAVE" and priced.currency == "usd"


def test_no_offer_or_no_discount_names_no_code():
    items = [Item("mug", "Enamel mug", 1250, 1)]
    assert price(items, currency="usd", offer=None, rate=STANDARD).code is None
    below = price(items, currency="usd", offer=_offer("fixed", 500, min_subtotal=5000), rate=STANDARD)
    assert below.code is None and below.discount == 0 and below.goods == 1250


def test_rounding_follows_each_currencys_minor_units():
    # jpy has no minor unit: 10% of 1,995 yen is 199.5 -> 200 yen
    yen = price([Item("mug", "Mug", 665, 3)], currency="jpy", offer=_offer(value=10), rate=STANDARD)
    assert (yen.subtotal, yen.discount, yen.goods) == (1995, 200, 1795)
    # kwd has three decimals: 12.345 KWD is 12345 fils; 15% is 1851.75 fils -> 1852
    dinar = price([Item("mug", "Mug", 12345, 1)], currency="KWD", offer=_offer(value=15), rate=STANDARD)
    assert (dinar.subtotal, dinar.discount, dinar.currency) == (12345, 1852, "kwd")
    # usd cents: 3 x $0.33 at 50% is 49.5 cents -> 50, shared 17, 17, 16
    cents = price([Item("a", "A", 33, 1), Item("b", "B", 33, 1), Item("c", "C", 33, 1)], currency="usd",
                  offer=_offer(value=50), rate=STANDARD)
    assert cents.discount == 50 and [line.discount for line in cents.items] == [17, 17, 16]


# ---- totals ---------------------------------------------------------------------------------------------------
def test_the_total_adds_tax_only_when_prices_exclude_it():
    priced = price([Item("mug", "Mug", 2500, 2)], currency="usd", offer=_offer("fixed", 1000), rate=STANDARD)
    assert total(priced, 320, tax_inclusive=False) == 5000 - 1000 + 599 + 320
    assert total(priced, 320, tax_inclusive=True) == 5000 - 1000 + 599


def test_free_shipping_is_decided_on_the_goods_after_the_discount():
    goods = price([Item("mug", "Mug", 8000, 1)], currency="usd", offer=_offer("fixed", 1000), rate=STANDARD).goods
    assert goods == 7000 and shipping_rates(SETTINGS, "US", goods)[0].amount == 599


# ---- integers only --------------------------------------------------------------------------------------------
def test_floats_and_bools_are_refused_as_money():
    with pytest.raises(TypeError):
        Item("mug", "Mug", 12.5, 1)
    with pytest.raises(TypeError):
        Item("mug", "Mug", True, 1)
    with pytest.raises(TypeError):
        discount_for(_offer(), 100.0)
    with pytest.raises(TypeError):
        allocate(10, [5.0, 5])
    with pytest.raises(TypeError):
        shipping_rates(SETTINGS, "US", 7500.0)
    with pytest.raises(TypeError):
        Offer(code="SAVE", kind="fixed", value=5.0, min_subtotal=0)
    priced = price([Item("mug", "Mug", 2500, 1)], currency="usd", offer=None, rate=STANDARD)
    with pytest.raises(TypeError):
        total(priced, 1.5, tax_inclusive=False)
    with pytest.raises(ValueError):
        Item("mug", "Mug", 2500, 0)
