"""Property-based (Hypothesis): no input to the cart, confirm, webhook, CSP report or admin refund
endpoints makes the shop answer 5xx, and none changes an order or the catalog (the one write a bad request may
cause: nothing); no made-up confirmation token holds any stock."""
import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import func, select

from app.shop.catalog import PRODUCTS
from app.models import CartItem, CspReport, Order, Product, db
from tests.support.events import sign
from security_checks import dump, pending_order

PRODUCT_IDS = [p[0] for p in PRODUCTS]
STOCK = {p[0]: p[4] for p in PRODUCTS}
EXAMPLES = hypothesis_settings(max_examples=120, deadline=None, derandomize=True,
                               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
anything = st.one_of(st.text(max_size=60), printable, st.integers(), st.floats(allow_nan=True), st.none(),
                     st.booleans(), st.lists(st.integers(), max_size=3),
                     st.dictionaries(printable, st.integers(), max_size=2))
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)


@pytest.fixture
def app(make_app, settings):
    return make_app(settings.with_overrides(rate_limit_confirm="", rate_limit_webhook="", rate_limit_csp_report=""))


def _kept(app):
    """The tables a bad request must never touch: everything but the event inbox."""
    return {name: rows for name, rows in dump(app).items() if name != "stripe_event"}


def _not_carts(app):
    return {name: rows for name, rows in dump(app).items() if name not in ("cart", "cart_item")}


def _cart_of(app, client) -> dict[str, int]:
    cookie = client.get_cookie("cart")
    if cookie is None:
        return {}
    with app.app_context():
        rows = db.session.execute(select(CartItem.product_id, CartItem.quantity).where(
            CartItem.cart_id == hashlib.sha256(cookie.value.encode()).hexdigest())).all()
        db.session.remove()
    return dict(rows)


# ---- the cart ------------------------------------------------------------------------------------------------

quantity = st.integers(0, 3).flatmap(lambda roll: st.integers(1, 99).map(str) if roll else st.one_of(
    st.integers(-10**6, 10**6).map(str), st.text(max_size=12), st.none()))
product_id = st.integers(0, 3).flatmap(lambda roll: st.sampled_from(PRODUCT_IDS) if roll else st.text(max_size=70))
cart_op = st.tuples(st.sampled_from(["/cart/add", "/cart/update", "/cart/remove"]), product_id, quantity)


@EXAMPLES
@given(ops=st.lists(cart_op, min_size=1, max_size=6))
def test_no_cart_input_answers_5xx_or_leaves_an_impossible_cart(app, ops):
    before = _not_carts(app)
    client = app.test_client()
    for path, pid, qty in ops:
        data = {k: v for k, v in (("product_id", pid), ("quantity", qty)) if v is not None}
        response = client.post(path, data=data)
        assert response.status_code in (303, 400), (path, data, response.status_code)
        event(f"{path} {response.status_code}")
        cart = _cart_of(app, client)
        assert all(pid in STOCK and 1 <= q <= min(99, STOCK[pid]) for pid, q in cart.items()), cart
    assert _not_carts(app) == before  # the cart's own rows are the only ones a cart request writes


# ---- the confirm endpoint ------------------------------------------------------------------------------------

def mostly(valid, junk=None):
    """Valid three times in four: the interesting failures are one bad field among good ones."""
    junk = junk if junk is not None else anything
    return st.integers(0, 3).flatmap(lambda roll: valid if roll else junk)


token = st.from_regex(r"\Actoken_[A-Za-z0-9_]{1,40}\Z")
hex32 = st.from_regex(r"\A[0-9a-f]{32}\Z")
field_value = st.one_of(anything, token, hex32, st.emails().map(str))
confirm_body = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(["confirmation_token", "attempt_id", "email", "amount", "currency"]), field_value),
    st.fixed_dictionaries({"confirmation_token": mostly(token), "attempt_id": mostly(hex32),
                           "email": mostly(st.emails().map(str))},
                          optional={"amount": st.integers(), "currency": printable, "lines": json_values}),
)


@pytest.fixture
def shopper(app):
    client = app.test_client()
    client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"})
    attempt = re.search(r'data-attempt-id="([0-9a-f]{32})"', client.get("/checkout").get_data(as_text=True))[1]
    return client, attempt


@EXAMPLES
@given(body=confirm_body, raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_no_confirm_body_answers_5xx_or_places_an_order(app, shopper, body, raw):
    client, _ = shopper
    before = _kept(app)
    if raw is None:
        response = client.post("/checkout/confirm", data=json.dumps(body), content_type="application/json")
    else:
        response = client.post("/checkout/confirm", data=raw, content_type="application/json")
    assert response.status_code in (400, 409), (body, raw, response.status_code, response.get_data()[:200])
    event(f"status {response.status_code}: {response.json['error'][:40]}")
    assert response.json["error"]
    assert _kept(app) == before


@EXAMPLES
@given(token=anything.filter(lambda v: not (isinstance(v, str) and re.fullmatch(r"ctoken_[A-Za-z0-9_]{1,250}", v))),
       email=field_value)
def test_with_the_real_attempt_id_a_bad_token_still_places_no_order(app, shopper, token, email):
    client, attempt = shopper
    before = _kept(app)
    response = client.post("/checkout/confirm", json={"confirmation_token": token, "attempt_id": attempt,
                                                      "email": email})
    assert response.status_code == 400, (token, email, response.get_data()[:200])
    assert _kept(app) == before


# two mailboxes joined, a display name, a header injection, a doubled @: each must be refused, never stored
separators = st.sampled_from([",", ";", ", ", " ", "\r\n", "\n", ":", "\t", "\x00"])
hostile_email = st.one_of(
    st.tuples(st.emails(), separators, st.emails()).map(lambda parts: "".join(map(str, parts))),
    st.tuples(printable, st.emails()).map(lambda parts: f"{parts[0]} <{parts[1]}>"),
    st.tuples(st.emails(), st.sampled_from(["\r\nBcc: eve@example.com", "\nTo: eve@example.com"]))
    .map(lambda parts: "".join(map(str, parts))),
    st.emails().map(lambda address: str(address).replace("@", "@@", 1)),
)


@EXAMPLES
@given(email=hostile_email)
def test_with_a_real_attempt_and_token_an_address_that_is_not_one_mailbox_places_no_order(app, shopper, email):
    client, attempt = shopper
    before = _kept(app)
    response = client.post("/checkout/confirm", json={"confirmation_token": "ctoken_abc", "attempt_id": attempt,
                                                      "email": email})
    assert response.status_code == 400, (email, response.get_data()[:200])
    assert response.json["error"].startswith(("Please enter", "Requests may not contain NUL"))
    assert _kept(app) == before


# ---- the Host header -----------------------------------------------------------------------------------------

host_header = st.one_of(st.from_regex(r"\A[A-Za-z0-9.\-]{1,30}(:[0-9]{1,6})?\Z"), printable,
                        st.sampled_from(["localhost", "127.0.0.1"]).flatmap(
                            lambda name: st.sampled_from([f"{name}.evil.example", f"evil.{name}", f"{name}@evil"])))


@EXAMPLES
@given(host=host_header, path=st.sampled_from(["/", "/cart", "/checkout", "/products/enamel-mug"]))
def test_no_host_outside_the_allow_list_is_served_or_writes_anything(app, host, path):
    before = dump(app)
    response = app.test_client().get(path, headers={"Host": host})
    name, _, port = host.partition(":")
    allowed = name.lower() in ("localhost", "127.0.0.1") and (not port or (port.isdigit() and 0 < int(port) < 65536))
    event("allowed" if allowed else "refused")
    assert response.status_code != 400 if allowed else response.status_code == 400, (host, response.status_code)
    assert dump(app) == before


# ---- the webhook ---------------------------------------------------------------------------------------------

signature_shaped = st.builds(lambda t, s: f"t={t},v1={s}", st.integers(), printable)


@EXAMPLES
@given(body=st.binary(max_size=300), header=st.one_of(st.none(), printable, signature_shaped))
def test_no_unsigned_delivery_answers_5xx_or_writes_anything(app, body, header):
    before = dump(app)
    headers = {} if header is None else {"Stripe-Signature": header}
    response = app.test_client().post("/webhooks/stripe", data=body, headers=headers, content_type="application/json")
    assert response.status_code == 400, (body, header, response.status_code)
    assert dump(app) == before


event_like = st.fixed_dictionaries(
    {"id": mostly(st.from_regex(r"\Aevt_[A-Za-z0-9]{1,24}\Z")),
     "type": mostly(st.sampled_from(["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded",
                                     "customer.created"])),
     "created": mostly(st.integers(0, 2**31)),
     "data": mostly(st.fixed_dictionaries({"object": mostly(st.fixed_dictionaries(
         {"id": printable, "amount": mostly(st.integers(0, 10**6)), "currency": mostly(st.just("usd")),
          "metadata": st.fixed_dictionaries({"order_id": anything})}), json_values)}))})


@EXAMPLES
@given(delivery=mostly(event_like, json_values))
def test_no_signed_body_answers_5xx_and_the_request_itself_changes_no_order(app, delivery):
    pending_order(app, attempt_id="f" * 32) if not _kept(app)["order"] else None
    before = _kept(app)
    body = json.dumps(delivery)
    response = app.test_client().post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)},
                                      content_type="application/json")
    assert response.status_code in (200, 400), (delivery, response.status_code)
    event(f"status {response.status_code}")
    assert _kept(app) == before  # processing is the worker's job; the request only stores the event


# ---- hoarding: made-up tokens against the real emulator ------------------------------------------------------

HOARD_EXAMPLES = hypothesis_settings(EXAMPLES, max_examples=30)


def _held(app) -> tuple[dict, int]:
    """The catalog's stock, and how many orders hold stock without being paid."""
    with app.app_context():
        stock = dict(db.session.execute(select(Product.id, Product.stock)).all())
        holding = db.session.scalar(select(func.count()).select_from(Order).where(
            Order.state.in_(["pending", "payment_failed"]), Order.stock_reserved.is_(True)))
        db.session.remove()
    return stock, holding


@pytest.fixture
def stripe_shop(make_app, stripe_settings):
    return make_app(stripe_settings.with_overrides(rate_limit_confirm="", breaker_fail_max=1000))


@HOARD_EXAMPLES
@given(token=token, lines=st.dictionaries(st.sampled_from(PRODUCT_IDS), st.integers(1, 99), min_size=1, max_size=3),
       repeat=st.integers(1, 3))
def test_no_made_up_token_holds_stock_or_pays(stripe_shop, token, lines, repeat):
    """Any well-formed token Stripe never issued, for any cart up to the whole stock, sent up to three times:
    a clear error, and afterwards the catalog's stock is as it was and no unpaid order holds any."""
    app = stripe_shop
    client = app.test_client()
    for product_id, quantity in lines.items():  # refused if an earlier example's made-up token still held it
        added = client.post("/cart/add", data={"product_id": product_id,
                                               "quantity": str(min(quantity, STOCK[product_id]))})
        assert added.status_code == 303, f"{product_id} x{quantity}: {added.get_data(as_text=True)[:200]}"
    attempt = re.search(r'data-attempt-id="([0-9a-f]{32})"', client.get("/checkout").get_data(as_text=True))[1]
    stock_before, _ = _held(app)
    for _ in range(repeat):
        response = client.post("/checkout/confirm", json={"confirmation_token": token, "attempt_id": attempt,
                                                          "email": "a@example.com"})
        assert response.status_code in (400, 402, 409, 429, 502), (token, lines, response.status_code, response.json)
        assert response.json["status"] in ("error", "failed") and response.json["error"]
        event(f"status {response.status_code}")
    assert _held(app) == (stock_before, 0)
    assert _cart_of(app, client), "the cart is kept"


# ---- admin refund amounts ------------------------------------------------------------------------------------

amount_text = st.one_of(
    st.text(max_size=40), st.from_regex(r"\A[ +-]?[0-9]{0,14}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,4})?\Z"),
    st.sampled_from(["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "inf", "1e400"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str))


@EXAMPLES
@given(text=amount_text)
def test_a_refund_amount_is_refused_or_is_exactly_the_number_typed(text):
    from decimal import Decimal

    from app.admin.refunds import BadAmount, parse_amount

    try:
        minor = parse_amount(text, "usd")
    except BadAmount as error:
        assert str(error)
        event("refused")
        return
    assert re.fullmatch(r"[0-9]+(\.[0-9]+)?", text.strip()), text
    assert isinstance(minor, int) and 0 < minor < 2**31 and Decimal(minor) == Decimal(text.strip()) * 100, text
    event("accepted")


@pytest.fixture
def admin_on_unpaid_order(app):
    """An admin, and an order never paid: any amount is answered before Stripe could be asked."""
    from app.admin import accounts

    public_id = pending_order(app)
    with app.app_context():
        accounts.create("prop", "property test password")
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "prop", "password": "property test password"}).status_code == 302
    return admin, public_id


@EXAMPLES
@given(text=amount_text)
def test_no_refund_amount_answers_5xx_or_changes_an_order_or_a_refund(app, admin_on_unpaid_order, text):
    admin, public_id = admin_on_unpaid_order
    tables = ("order", "order_line", "refund", "product", "payment_attempt")
    before = {name: rows for name, rows in dump(app).items() if name in tables}
    response = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": text, "form_token": "c" * 32})
    assert response.status_code in (302, 400), (text, response.status_code)
    event(f"status {response.status_code}")
    assert {name: rows for name, rows in dump(app).items() if name in tables} == before


# ---- CSP reports ---------------------------------------------------------------------------------------------

url_like = st.builds(lambda scheme, host, path, query: f"{scheme}://{host}{path}?{query}",
                     st.sampled_from(["http", "https", "wss", "data", "blob", "javascript", "HTTPS"]),
                     st.from_regex(r"\A[a-z0-9.-]{1,20}(:[0-9]{1,6})?\Z"), st.from_regex(r"\A(/[^?#\s]{0,12}){0,3}\Z"),
                     printable)
field = mostly(url_like, anything)
csp_report = st.fixed_dictionaries({"document-uri": field, "blocked-uri": field, "effective-directive": anything,
                                    "violated-directive": anything, "line-number": anything, "script-sample": anything})
reporting_api = st.lists(st.fixed_dictionaries({"type": mostly(st.just("csp-violation"), anything), "body": mostly(
    st.fixed_dictionaries({"documentURL": field, "blockedURL": field, "effectiveDirective": anything,
                           "lineNumber": anything, "sample": anything}), json_values)}), max_size=25)


@EXAMPLES
@given(body=st.one_of(st.fixed_dictionaries({"csp-report": csp_report}), reporting_api, json_values),
       content_type=st.sampled_from(["application/csp-report", "application/reports+json"]))
def test_no_csp_report_answers_5xx_or_stores_a_query_string_or_a_full_blocked_url(app, body, content_type):
    before = _kept(app)
    response = app.test_client().post("/csp-report", data=json.dumps(body), content_type=content_type)
    assert response.status_code in (204, 400, 413), (body, response.status_code)
    event(f"status {response.status_code}")
    after = _kept(app)
    assert {name: rows for name, rows in after.items() if name != "csp_report"} == {
        name: rows for name, rows in before.items() if name != "csp_report"}
    with app.app_context():
        for row in db.session.scalars(select(CspReport)):
            assert "?" not in row.document_uri and "#" not in row.document_uri
            assert row.document_uri == "" or row.document_uri.startswith("/")
            assert re.fullmatch(r"|[a-z]+://[^/?#]+|[a-z][a-z0-9+.-]*:|[a-z-]+", row.blocked_uri), row.blocked_uri
        db.session.remove()
