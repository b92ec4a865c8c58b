"""Property-based (Hypothesis): no input to the cart, confirm or webhook endpoints makes the shop answer 5xx,
and none changes an order or the catalog (the one write a bad request may cause: nothing)."""
import hashlib
import json
import re

import pytest
from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import select

from app.shop.catalog import PRODUCTS
from app.models import CartItem, db
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
