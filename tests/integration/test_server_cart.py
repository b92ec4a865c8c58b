"""The cart lives in the database under a long-lived, HttpOnly cookie: it outlives the browser, two tabs share it
(and may change it at the same moment), forged or expired cookies get an empty cart, and carts unused for 30 days
are deleted by `shop expire-carts` (the worker runs it hourly)."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.models import Cart, CartItem, db, utcnow
from app.shop import cart_store

THIRTY_DAYS = 30 * 24 * 3600


def _cart_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("cart=")]


def _add(client, product_id="enamel-mug", quantity=1):
    return client.post("/cart/add", data={"product_id": product_id, "quantity": str(quantity)})


def _carts(app) -> dict[str, dict[str, int]]:
    """Every cart in the database: {cart id: {product id: quantity}}."""
    with app.app_context():
        carts = {cart_id: {} for cart_id in db.session.scalars(select(Cart.id))}
        for item in db.session.scalars(select(CartItem)):
            carts[item.cart_id][item.product_id] = item.quantity
        db.session.remove()
        return carts


def _count(client) -> str:
    return re.search(r'data-testid="cart-count">(\d+)<', client.get("/cart").get_data(as_text=True))[1]


def _tab_of(client, app, session=False):
    """Another tab of the same browser: its cart cookie (and, if asked, its session cookie)."""
    tab = app.test_client()
    for name in ("cart", "session") if session else ("cart",):
        cookie = client.get_cookie(name)
        if cookie is not None:
            tab.set_cookie(name, cookie.value)
    return tab


def _at_once(sends):
    """Run the sends in threads released together; returns their responses in order."""
    barrier = threading.Barrier(len(sends))
    responses = [None] * len(sends)

    def run(i):
        barrier.wait()
        responses[i] = sends[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return responses


def _age(app, days: float) -> None:
    with app.app_context():
        db.session.execute(update(Cart).values(updated_at=utcnow() - timedelta(days=days)))
        db.session.commit()


def test_a_visitor_who_only_browses_gets_no_cart_and_no_cookie(app, client):
    for path in ("/", "/products/enamel-mug", "/cart", "/checkout"):
        response = client.get(path)
        assert response.status_code in (200, 302), path
        assert not _cart_cookies(response), path
    assert _add(client, "enamel-mug", "0").status_code == 400  # a refused add makes no cart either
    assert _carts(app) == {}
    assert client.get_cookie("cart") is None


def test_the_cart_cookie_is_httponly_lax_and_lasts_thirty_days(app, client):
    (cookie,) = _cart_cookies(_add(client))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={THIRTY_DAYS}" in cookie
    assert "Secure" not in cookie  # plain-HTTP development would lose it
    token = client.get_cookie("cart").value
    (cart_id,) = _carts(app)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token) and token not in cart_id  # the table keeps a digest only


def test_in_production_the_cart_cookie_is_secure_too(make_app, production_settings):
    client = make_app(production_settings).test_client()
    response = client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"},
                           base_url="https://localhost")
    (cookie,) = _cart_cookies(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and f"Max-Age={THIRTY_DAYS}" in cookie


def test_the_cart_outlives_the_browser_session(app, client):
    _add(client, "enamel-mug", 2)
    _add(client, "burr-grinder", 1)
    reopened = _tab_of(client, app)  # the session cookie died with the browser; the cart cookie did not
    page = reopened.get("/cart").get_data(as_text=True)
    assert "Enamel Camp Mug" in page and "Hand Burr Grinder" in page
    assert _count(reopened) == "3"
    assert _add(reopened, "enamel-mug", 1).status_code == 303
    assert _count(client) == "4"  # one cart, whichever window changed it
    assert len(_carts(app)) == 1


def test_two_tabs_adding_the_same_product_at_once_sum_their_quantities(app, client):
    _add(client, "single-origin-beans", 1)
    tabs = [_tab_of(client, app, session=True) for _ in range(6)]
    for _ in range(3):
        responses = _at_once([lambda tab=tab: _add(tab, "single-origin-beans", 2) for tab in tabs])
        assert [r.status_code for r in responses] == [303] * len(tabs)
    assert list(_carts(app).values()) == [{"single-origin-beans": 1 + 3 * 6 * 2}]


def test_adds_at_once_never_pass_the_stock_and_the_rest_are_refused_clearly(app, client):
    _add(client, "burr-grinder", 1)  # 15 in stock
    tabs = [_tab_of(client, app) for _ in range(8)]
    responses = _at_once([lambda tab=tab: _add(tab, "burr-grinder", 3) for tab in tabs])
    assert sorted(r.status_code for r in responses) == [303] * 4 + [400] * 4
    for response in responses:
        if response.status_code == 400:
            assert "only 15 of Hand Burr Grinder left" in response.get_data(as_text=True)
    assert list(_carts(app).values()) == [{"burr-grinder": 13}]


def test_first_adds_from_two_tabs_at_once_make_one_cart_holding_both(app, client):
    client.get("/")  # the page gave the browser its session (and CSRF secret)
    for round_ in range(3):
        tabs = [_tab_of(client, app, session=True) for _ in range(2)]
        responses = _at_once([lambda: _add(tabs[0], "enamel-mug", 1), lambda: _add(tabs[1], "ceramic-pour-over", 1)])
        assert [r.status_code for r in responses] == [303, 303]
        tokens = {tab.get_cookie("cart").value for tab in tabs}
        assert len(tokens) == 1, round_
        assert list(_carts(app).values()) == [{"enamel-mug": 1, "ceramic-pour-over": 1}]
        with app.app_context():
            db.session.execute(db.delete(Cart))
            db.session.commit()


def test_tabs_share_one_checkout_attempt_and_a_change_in_either_starts_a_new_one(app, client):
    _add(client)
    other = _tab_of(client, app)
    attempt = re.search(r'data-attempt-id="([0-9a-f]{32})"', client.get("/checkout").get_data(as_text=True))[1]
    assert f'data-attempt-id="{attempt}"' in other.get("/checkout").get_data(as_text=True)
    _add(other, "burr-grinder")
    assert f'data-attempt-id="{attempt}"' not in client.get("/checkout").get_data(as_text=True)


def test_carts_unused_for_thirty_days_are_deleted_by_the_cleanup(app, client):
    _add(client, "enamel-mug", 2)
    (old,) = _carts(app)
    _age(app, 31)
    fresh = app.test_client()
    _add(fresh, "burr-grinder", 1)
    result = app.test_cli_runner().invoke(args=["expire-carts"])
    assert result.exit_code == 0 and "deleted 1 expired carts" in result.output, result.output
    carts = _carts(app)
    assert old not in carts and list(carts.values()) == [{"burr-grinder": 1}]
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(CartItem)) == 1


def test_a_cookie_naming_an_expired_cart_gets_a_new_empty_cart_silently(app, client):
    _add(client, "enamel-mug", 2)
    (old,) = _carts(app)
    _age(app, 31)  # expired, not purged yet
    response = client.get("/cart")
    assert response.status_code == 200 and _count(client) == "0"
    assert any("Max-Age=0" in c or "Expires=Thu, 01 Jan 1970" in c for c in _cart_cookies(response))
    assert _add(client, "burr-grinder", 1).status_code == 303
    carts = _carts(app)
    assert carts[old] == {"enamel-mug": 2} and len(carts) == 2  # left for the cleanup
    assert _count(client) == "1"


@pytest.mark.parametrize("value", ["x", "A" * 43, "../../etc/passwd", "' OR '1'='1", "é" * 50, "A" * 4000])
def test_a_forged_or_unknown_cart_cookie_gets_an_empty_cart_not_an_error(app, value):
    _add(app.test_client())  # somebody else's cart exists
    client = app.test_client()
    client.set_cookie("cart", value)
    for path in ("/", "/cart", "/checkout"):
        assert client.get(path).status_code in (200, 302)
    assert _count(client) == "0"
    assert client.post("/cart/update", data={"product_id": "enamel-mug", "quantity": "2"}).status_code == 400
    assert client.post("/cart/remove", data={"product_id": "enamel-mug"}).status_code == 303
    assert _add(client, "burr-grinder", 1).status_code == 303
    assert client.get_cookie("cart").value != value and _count(client) == "1"
    assert sorted(map(sorted, _carts(app).values())) == [["burr-grinder"], ["enamel-mug"]]


def test_a_cart_in_use_is_stamped_at_most_daily_and_its_cookie_renewed_then(app, client):
    _add(client)
    _age(app, 0.5)
    assert not _cart_cookies(client.get("/cart"))
    with app.app_context():
        before = db.session.scalar(select(Cart.updated_at))
    assert utcnow() - before > timedelta(hours=11)
    _age(app, 2)
    (cookie,) = _cart_cookies(client.get("/"))
    assert f"Max-Age={THIRTY_DAYS}" in cookie
    with app.app_context():
        assert utcnow() - db.session.scalar(select(Cart.updated_at)) < timedelta(minutes=1)


def test_a_cart_from_the_session_is_carried_over_once(app, client):
    with client.session_transaction() as session:
        session["cart"] = {"enamel-mug": 2, "burr-grinder": 1, "no-such-product": 3, "gooseneck-kettle": "9"}
    assert _count(client) == "3"
    with client.session_transaction() as session:
        assert "cart" not in session
    assert list(_carts(app).values()) == [{"enamel-mug": 2, "burr-grinder": 1}]
    assert client.get_cookie("cart") is not None
    assert _count(client) == "3"  # once


def test_a_session_cart_meeting_a_database_cart_keeps_the_larger_quantity_of_each(app, client):
    _add(client, "enamel-mug", 3)
    _add(client, "ceramic-pour-over", 1)
    with client.session_transaction() as session:
        session["cart"] = {"enamel-mug": 2, "ceramic-pour-over": 4, "burr-grinder": 1}
    assert client.get("/").status_code == 200
    assert list(_carts(app).values()) == [{"enamel-mug": 3, "ceramic-pour-over": 4, "burr-grinder": 1}]


def test_the_cleanup_leaves_carts_used_within_thirty_days(app, client):
    _add(client)
    _age(app, 29)
    with app.app_context():
        assert cart_store.purge_expired() == 0
    assert len(_carts(app)) == 1
