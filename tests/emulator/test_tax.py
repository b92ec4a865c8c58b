"""Stripe Tax: calculations, transactions and reversals, through stripe-python as the shop calls them."""

import time

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY

SF = {"line1": "354 Oyster Point Blvd", "city": "South San Francisco", "state": "CA", "postal_code": "94080",
      "country": "US"}
BERLIN = {"line1": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117", "country": "DE"}


def _calculation(client, lines, address=SF, currency="usd", shipping=None, expand=True):
    params = {"currency": currency, "line_items": lines,
              "customer_details": {"address": address, "address_source": "shipping"}}
    if shipping is not None:
        params["shipping_cost"] = shipping
    if expand:
        params["expand"] = ["line_items"]
    return client.v1.tax.calculations.create(params=params)


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as info:
        call()
    return info.value


def _raw(emu, method, path, **kw):
    kw.setdefault("timeout", 5)
    return requests.request(method, emu.api + path, auth=(SECRET_KEY, ""), **kw)


def test_exclusive_tax_is_rounded_half_up_per_line(client):
    # 7.25 %: 1000 -> 72.5 -> 73; 1999 -> 144.9275 -> 145; 3 -> 0.2175 -> 0. Summed first it would be 218.
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}, {"amount": 1999, "reference": "b", "quantity": 2},
                                 {"amount": 3, "reference": "c"}])
    assert calc.id.startswith("taxcalc_") and calc.object == "tax.calculation"
    assert [li.amount_tax for li in calc.line_items.data] == [73, 145, 0]
    assert calc.tax_amount_exclusive == 218 and calc.tax_amount_inclusive == 0
    assert calc.amount_total == 1000 + 1999 + 3 + 218
    assert calc.line_items.data[1].quantity == 2 and calc.line_items.data[1].tax_behavior == "exclusive"
    breakdown = calc.tax_breakdown[0]
    assert (breakdown.amount, breakdown.inclusive, breakdown.taxable_amount) == (218, False, 3002)
    assert breakdown.tax_rate_details.to_dict() == {
        "country": "US", "flat_amount": None, "percentage_decimal": "7.25", "rate_type": "percentage",
        "state": "CA", "tax_type": "sales_tax"}
    assert breakdown.taxability_reason == "standard_rated"
    assert calc.customer_details.to_dict() == {"address": dict(SF, line2=None), "address_source": "shipping",
                                               "ip_address": None, "tax_ids": [], "taxability_override": "none"}
    assert calc.expires_at - calc.tax_date == 90 * 86400 and abs(calc.tax_date - time.time()) < 60


def test_inclusive_tax_is_the_part_of_the_amount_that_is_tax(client):
    # 19 % VAT included: 1190 -> 1190 - 1000 = 190; 999 -> 999 - round(839.49) = 160; 5 -> 5 - round(4.20) = 1.
    calc = _calculation(client, [{"amount": 1190, "reference": "a", "tax_behavior": "inclusive"},
                                 {"amount": 999, "reference": "b", "tax_behavior": "inclusive"},
                                 {"amount": 5, "reference": "c", "tax_behavior": "inclusive"}],
                        address=BERLIN, currency="eur")
    assert [li.amount_tax for li in calc.line_items.data] == [190, 160, 1]
    assert calc.tax_amount_inclusive == 351 and calc.tax_amount_exclusive == 0
    assert calc.amount_total == 1190 + 999 + 5
    assert calc.tax_breakdown[0].inclusive is True and calc.tax_breakdown[0].taxable_amount == 2194 - 351
    assert calc.tax_breakdown[0].tax_rate_details.tax_type == "vat"
    assert calc.tax_breakdown[0].tax_rate_details.percentage_decimal == "19.0"
    assert calc.line_items.data[0].tax_breakdown[0].jurisdiction.country == "DE"


@pytest.mark.parametrize("address,percentage,tax", [
    ({"country": "US", "state": "NY", "postal_code": "10001"}, "8.875", 89),
    ({"country": "US", "state": "TX", "postal_code": "75001"}, "6.25", 63),
    ({"country": "US", "state": "WA", "postal_code": "98101"}, "10.25", 103),
    ({"country": "US", "postal_code": "98101"}, "10.25", 103),  # no state: the ZIP code places it
    ({"country": "FR", "postal_code": "75001"}, "20.0", 200),
    ({"country": "NL"}, "21.0", 210),
    ({"country": "IE"}, "23.0", 230),
    ({"country": "GB", "postal_code": "SW1A 1AA"}, "20.0", 200),
    ({"country": "CA", "state": "ON", "postal_code": "M5V 3L9"}, "5.0", 50),
])
def test_the_rate_table(client, address, percentage, tax):
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}], address=address)
    assert calc.tax_amount_exclusive == tax and calc.amount_total == 1000 + tax
    assert calc.tax_breakdown[0].tax_rate_details.percentage_decimal == percentage


@pytest.mark.parametrize("address", [{"country": "US", "state": "OR", "postal_code": "97201"},
                                     {"country": "JP", "postal_code": "100-0001"}])
def test_a_place_where_no_tax_is_collected(client, address):
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}], address=address, shipping={"amount": 500})
    assert calc.tax_amount_exclusive == 0 and calc.amount_total == 1500
    assert calc.tax_breakdown[0].taxability_reason == "not_collecting"
    assert calc.tax_breakdown[0].amount == 0 and calc.tax_breakdown[0].taxable_amount == 0
    assert calc.line_items.data[0].tax_breakdown[0].taxability_reason == "not_collecting"
    assert calc.shipping_cost.amount_tax == 0


def test_zero_decimal_currency(client):
    # 1999 yen at 7.25 %: 144.93 -> 145 yen; shipping 700 yen -> 50.75 -> 51.
    calc = _calculation(client, [{"amount": 1999, "reference": "a"}], currency="jpy", shipping={"amount": 700})
    assert calc.currency == "jpy"
    assert calc.line_items.data[0].amount_tax == 145 and calc.shipping_cost.amount_tax == 51
    assert calc.amount_total == 1999 + 700 + 196


def test_shipping_is_taxed_at_the_same_rate(client):
    calc = _calculation(client, [{"amount": 2000, "reference": "a"}], shipping={"amount": 599})
    shipping = calc.shipping_cost
    assert (shipping.amount, shipping.amount_tax, shipping.tax_behavior) == (599, 43, "exclusive")  # 43.43
    assert shipping.tax_code == "txcd_92010001" and shipping.shipping_rate is None
    assert shipping.tax_breakdown[0].tax_rate_details.percentage_decimal == "7.25"
    assert calc.tax_amount_exclusive == 145 + 43 and calc.amount_total == 2000 + 599 + 188
    assert calc.tax_breakdown[0].taxable_amount == 2599
    inclusive = _calculation(client, [{"amount": 2000, "reference": "a"}],
                             shipping={"amount": 599, "tax_behavior": "inclusive"})
    assert inclusive.shipping_cost.amount_tax == 599 - 559  # 599 / 1.0725 = 558.51
    assert inclusive.amount_total == 2000 + 599 + 145
    assert [b.inclusive for b in inclusive.tax_breakdown] == [False, True]


@pytest.mark.parametrize("address", [
    {"country": "US", "state": "CA"},  # no ZIP code
    {"country": "US", "state": "CA", "postal_code": "9410"},
    {"country": "US", "state": "ZZ", "postal_code": "94105"},
    {"line1": "1 Main St", "postal_code": "94105"},  # no country
    {"country": "Germany"},
])
def test_an_address_stripe_tax_cannot_place_is_refused(client, address):
    err = _error(lambda: _calculation(client, [{"amount": 1000, "reference": "a"}], address=address))
    assert err.http_status == 400 and err.code == "customer_tax_location_invalid"
    assert err.param == "customer_details[address]"
    assert isinstance(err, stripe.InvalidRequestError)


@pytest.mark.parametrize("params,code,param", [
    ({"currency": None}, "parameter_missing", "currency"),
    ({"line_items": None}, "parameter_missing", "line_items"),
    ({"line_items": [{"amount": 100}]}, "parameter_missing", "line_items[0][reference]"),
    ({"line_items": [{"reference": "a"}]}, "parameter_missing", "line_items[0][amount]"),
    ({"line_items": [{"amount": -1, "reference": "a"}]}, "parameter_invalid_integer", "line_items[0][amount]"),
    ({"line_items": [{"amount": 1, "reference": "a", "tax_behavior": "both"}]}, "parameter_invalid_string",
     "line_items[0][tax_behavior]"),
    ({"line_items": [{"amount": 1, "reference": "a"}, {"amount": 2, "reference": "a"}]}, "parameter_invalid_string",
     "line_items[1][reference]"),
    ({"shipping_cost": {"amount": -5}}, "parameter_invalid_integer", "shipping_cost[amount]"),
    ({"customer_details": {"address": SF}}, "parameter_missing", "customer_details[address_source]"),
    ({"customer_details": {"address_source": "shipping"}}, "parameter_missing", "customer_details[address]"),
    ({"currency": "zzz"}, "parameter_invalid_string", "currency"),
    ({"expand": ["customer"]}, None, "expand"),
])
def test_bad_calculation_parameters_are_refused(client, emu, params, code, param):
    base = {"currency": "usd", "line_items": [{"amount": 1000, "reference": "a"}],
            "customer_details": {"address": SF, "address_source": "shipping"}}
    base.update(params)
    err = _error(lambda: client.v1.tax.calculations.create(params={k: v for k, v in base.items() if v is not None}))
    assert (err.http_status, err.code, err.param) == (400, code, param)
    assert emu.ctl("GET", "/_emulator/stats")["tax_calculations"]["created"] == 0


def test_line_items_are_includable_and_listed(client):
    lines = [{"amount": 100 * (i + 1), "reference": f"line-{i}", "tax_code": "txcd_99999999",
              "product": f"prod_{i}"} for i in range(12)]
    plain = _calculation(client, lines, expand=False)
    assert plain.line_items is None
    again = client.v1.tax.calculations.retrieve(plain.id)
    assert again.line_items is None and again.amount_total == plain.amount_total
    expanded = client.v1.tax.calculations.retrieve(plain.id, params={"expand": ["line_items"]})
    assert expanded.line_items.object == "list" and expanded.line_items.has_more is True
    assert expanded.line_items.url == f"/v1/tax/calculations/{plain.id}/line_items"
    assert [li.reference for li in expanded.line_items.data] == [f"line-{i}" for i in range(10)]
    item = expanded.line_items.data[0]
    assert item.id.startswith("tax_li_") and item.object == "tax.calculation_line_item"
    assert (item.amount, item.amount_tax, item.product, item.livemode) == (100, 7, "prod_0", False)
    page = client.v1.tax.calculations.line_items.list(plain.id, params={"limit": 5})
    assert [li.reference for li in page.data] == [f"line-{i}" for i in range(5)] and page.has_more
    rest = client.v1.tax.calculations.line_items.list(plain.id, params={"starting_after": page.data[-1].id,
                                                                        "limit": 100})
    assert [li.reference for li in rest.data] == [f"line-{i}" for i in range(5, 12)] and not rest.has_more
    assert _error(lambda: client.v1.tax.calculations.retrieve("taxcalc_nope")).http_status == 404


def test_a_transaction_is_recorded_once_and_its_reference_is_unique(client, emu):
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}, {"amount": 250, "reference": "b"}],
                        shipping={"amount": 500})
    params = {"calculation": calc.id, "reference": "order-1", "metadata": {"order": "1"},
              "expand": ["line_items"]}
    txn = client.v1.tax.transactions.create_from_calculation(params=params, options={"idempotency_key": "tax-o1"})
    assert txn.id.startswith("tax_") and txn.object == "tax.transaction" and txn.type == "transaction"
    assert txn.reference == "order-1" and txn.reversal is None and txn.metadata.to_dict() == {"order": "1"}
    assert txn.customer_details.address.state == "CA" and txn.currency == "usd"
    assert txn.shipping_cost.amount == 500 and txn.shipping_cost.amount_tax == 36
    assert [(li.reference, li.amount, li.amount_tax, li.type, li.reversal) for li in txn.line_items.data] == [
        ("a", 1000, 73, "transaction", None), ("b", 250, 18, "transaction", None)]
    assert txn.line_items.data[0].object == "tax.transaction_line_item"

    replay = _raw(emu, "POST", "/v1/tax/transactions/create_from_calculation", headers={"Idempotency-Key": "tax-o1"},
                  data={"calculation": calc.id, "reference": "order-1", "metadata[order]": "1",
                        "expand[0]": "line_items"})
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == txn.id

    err = _error(lambda: client.v1.tax.transactions.create_from_calculation(
        params={"calculation": calc.id, "reference": "order-1"}, options={"idempotency_key": "tax-o1-again"}))
    assert err.http_status == 400 and err.param == "reference" and "already been used" in err.user_message
    assert txn.id in err.user_message
    recorded = emu.ctl("GET", "/_emulator/tax/transactions")["data"]
    assert [(t["id"], t["reference"], t["amount"], t["amount_tax"]) for t in recorded] == [
        (txn.id, "order-1", 1750, 127)]
    assert client.v1.tax.transactions.retrieve(txn.id).line_items is None
    listed = client.v1.tax.transactions.line_items.list(txn.id)
    assert [li.id for li in listed.data] == [li.id for li in txn.line_items.data]


def test_an_expired_calculation_is_refused(client, emu):
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}])
    expired = emu.ctl("POST", f"/_emulator/tax/calculations/{calc.id}/expire")
    assert expired["expires_at"] < time.time()
    assert client.v1.tax.calculations.retrieve(calc.id).expires_at == expired["expires_at"]
    err = _error(lambda: client.v1.tax.transactions.create_from_calculation(
        params={"calculation": calc.id, "reference": "order-2"}))
    assert (err.http_status, err.code, err.param) == (400, "tax_calculation_expired", "calculation")
    assert emu.ctl("GET", "/_emulator/tax/transactions")["data"] == []
    fresh = _calculation(client, [{"amount": 1000, "reference": "a"}])
    assert client.v1.tax.transactions.create_from_calculation(
        params={"calculation": fresh.id, "reference": "order-2"}).reference == "order-2"
    missing = _error(lambda: client.v1.tax.transactions.create_from_calculation(
        params={"calculation": "taxcalc_nope", "reference": "order-3"}))
    assert (missing.http_status, missing.code, missing.param) == (404, "resource_missing", "calculation")


def _recorded(client, lines, shipping=None, address=SF, currency="usd", reference="order-1"):
    calc = _calculation(client, lines, shipping=shipping, address=address, currency=currency)
    return client.v1.tax.transactions.create_from_calculation(
        params={"calculation": calc.id, "reference": reference, "expand": ["line_items"]})


def _sums(txn):
    items = txn.line_items.data
    shipping = txn.shipping_cost
    return (sum(li.amount for li in items) + (shipping.amount if shipping else 0),
            sum(li.amount_tax for li in items) + (shipping.amount_tax if shipping else 0))


def test_a_full_reversal_gives_back_everything(client):
    txn = _recorded(client, [{"amount": 1000, "reference": "a"}, {"amount": 999, "reference": "b",
                                                                  "tax_behavior": "inclusive"}],
                    shipping={"amount": 500})
    reversal = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "order-1-refund", "mode": "full", "expand": ["line_items"]})
    assert reversal.type == "reversal" and reversal.reversal.original_transaction == txn.id
    assert [(li.amount, li.amount_tax, li.type, li.reversal.original_line_item) for li in reversal.line_items.data] == [
        (-li.amount, -li.amount_tax, "reversal", li.id) for li in txn.line_items.data]
    assert (reversal.shipping_cost.amount, reversal.shipping_cost.amount_tax) == (-500, -36)
    again = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "order-1-refund-2", "mode": "partial", "flat_amount": -1}))
    assert again.http_status == 400 and again.param == "flat_amount" and "more than remains" in again.user_message
    twice = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "order-1-refund-3", "mode": "full"}))
    assert twice.http_status == 400 and twice.param == "mode"
    of_reversal = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": reversal.id, "reference": "order-1-refund-4", "mode": "full"}))
    assert of_reversal.http_status == 400 and of_reversal.param == "original_transaction"


def test_a_flat_partial_reversal_is_spread_and_sums_exactly(client, emu):
    # Total 1073 + 1071 + 536 (exclusive, 7.25 %) = 2680; give back 1000 tax included.
    txn = _recorded(client, [{"amount": 1000, "reference": "a"}, {"amount": 999, "reference": "b"}],
                    shipping={"amount": 500})
    assert _sums(txn) == (2499, 181)
    first = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "refund-1", "mode": "partial", "flat_amount": -1000,
        "metadata": {"refund": "re_1"}, "expand": ["line_items"]})
    amount, tax = _sums(first)
    assert amount + tax == -1000 and tax < 0 and first.metadata.to_dict() == {"refund": "re_1"}
    for li in first.line_items.data:  # each part keeps the 7.25 % proportion, to the unit
        assert abs(li.amount_tax - round(li.amount * 0.0725)) <= 1
    assert [li.reference for li in first.line_items.data] == ["a", "b"]
    # The rest, exactly: 1680 remains; one unit more is refused, then all of it is accepted.
    over = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "refund-2", "mode": "partial", "flat_amount": -1681}))
    assert over.http_status == 400 and "1680" in over.user_message
    full_now = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "refund-2", "mode": "full"}))
    assert full_now.http_status == 400 and "already been reversed in part" in full_now.user_message
    rest = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "refund-2", "mode": "partial", "flat_amount": -1680,
        "expand": ["line_items"]})
    assert sum(_sums(rest)) == -1680
    assert (_sums(first)[0] + _sums(rest)[0], _sums(first)[1] + _sums(rest)[1]) == (-2499, -181)
    recorded = emu.ctl("GET", "/_emulator/tax/transactions")["data"]
    assert [(t["type"], t["reference"], t["original_transaction"]) for t in recorded] == [
        ("transaction", "order-1", None), ("reversal", "refund-1", txn.id), ("reversal", "refund-2", txn.id)]
    assert emu.ctl("GET", "/_emulator/tax/transactions", params={"reference": "refund-2"})["data"][0]["id"] == rest.id


def test_a_flat_reversal_in_a_zero_decimal_currency_with_inclusive_lines(client):
    txn = _recorded(client, [{"amount": 3333, "reference": "a", "tax_behavior": "inclusive"},
                             {"amount": 1, "reference": "b", "tax_behavior": "inclusive"}],
                    address=BERLIN, currency="jpy")
    reversal = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "r", "mode": "partial", "flat_amount": -1001,
        "expand": ["line_items"]})
    assert sum(li.amount for li in reversal.line_items.data) == -1001  # inclusive: the amount holds the tax
    assert reversal.shipping_cost is None


def test_a_reversal_by_line_items_and_shipping(client):
    txn = _recorded(client, [{"amount": 1000, "reference": "a"}, {"amount": 250, "reference": "b"}],
                    shipping={"amount": 500})
    line_a = txn.line_items.data[0]
    reversal = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "return-a", "mode": "partial",
        "line_items": [{"original_line_item": line_a.id, "reference": "a-returned", "amount": -500,
                        "amount_tax": -36, "quantity": 1}],
        "shipping_cost": {"amount": -500, "amount_tax": -36}, "expand": ["line_items"]})
    assert [(li.reference, li.amount, li.amount_tax, li.quantity) for li in reversal.line_items.data] == [
        ("a-returned", -500, -36, 1)]
    assert (reversal.shipping_cost.amount, reversal.shipping_cost.amount_tax) == (-500, -36)
    over = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "return-a-2", "mode": "partial",
        "line_items": [{"original_line_item": line_a.id, "reference": "x", "amount": -501, "amount_tax": -1}]}))
    assert over.http_status == 400 and over.param == "line_items"
    no_shipping_left = _error(lambda: client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "return-a-2", "mode": "partial",
        "shipping_cost": {"amount": -1, "amount_tax": 0}}))
    assert no_shipping_left.http_status == 400 and no_shipping_left.param == "shipping_cost"
    rest = client.v1.tax.transactions.create_reversal(params={
        "original_transaction": txn.id, "reference": "return-a-2", "mode": "partial",
        "line_items": [{"original_line_item": line_a.id, "reference": "x", "amount": -500, "amount_tax": -37}]})
    assert rest.type == "reversal"


@pytest.mark.parametrize("params,param", [
    ({"mode": "sideways"}, "mode"),
    ({"mode": "partial"}, "mode"),
    ({"mode": "partial", "flat_amount": 100}, "flat_amount"),
    ({"mode": "full", "flat_amount": -100}, "flat_amount"),
    ({"mode": None}, "mode"),
    ({"reference": None}, "reference"),
    ({"original_transaction": "tax_nope"}, "original_transaction"),
])
def test_bad_reversals_are_refused(client, params, param):
    txn = _recorded(client, [{"amount": 1000, "reference": "a"}])
    base = dict({"original_transaction": txn.id, "reference": "r", "mode": "full"}, **params)
    err = _error(lambda: client.v1.tax.transactions.create_reversal(
        params={k: v for k, v in base.items() if v is not None}))
    assert err.http_status in (400, 404) and err.param == param


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 500, "should_retry": True}])
def test_faults_reach_the_tax_routes_by_path_prefix(client, emu, fault):
    emu.ctl("POST", "/_emulator/faults", dict(fault, route="/v1/tax/*", count=2))
    for _ in range(2):
        err = _error(lambda: _calculation(client, [{"amount": 1000, "reference": "a"}]))
        assert err.http_status == fault["status"] and isinstance(err, stripe.APIError)
    assert _calculation(client, [{"amount": 1000, "reference": "a"}]).amount_total == 1073
    assert [e["status"] for e in emu.requests_log("/v1/tax/")] == [fault["status"]] * 2 + [200]


def test_latency_timeout_and_outage_on_the_tax_routes(client, emu):
    calc = _calculation(client, [{"amount": 1000, "reference": "a"}])
    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/tax/transactions/*", "latency_ms": 300, "count": 1})
    started = time.monotonic()
    client.v1.tax.transactions.create_from_calculation(params={"calculation": calc.id, "reference": "o-1"})
    assert time.monotonic() - started >= 0.3
    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/tax/calculations", "hang": True, "count": 1})
    with pytest.raises(requests.exceptions.ReadTimeout):
        _raw(emu, "POST", "/v1/tax/calculations", data={"currency": "usd"}, timeout=0.5)
    emu.ctl("POST", "/_emulator/outage", {"down": True})
    try:
        err = _error(lambda: _calculation(client, [{"amount": 1000, "reference": "a"}]))
        assert isinstance(err, stripe.APIConnectionError)
    finally:
        emu.ctl("POST", "/_emulator/outage", {"down": False})
    assert client.v1.tax.calculations.retrieve(calc.id).id == calc.id


def test_the_publishable_key_cannot_reach_the_tax_routes(emu):
    resp = requests.post(emu.api + "/v1/tax/calculations", auth=(PUBLISHABLE_KEY, ""), data={"currency": "usd"},
                         timeout=5)
    assert resp.status_code == 401
