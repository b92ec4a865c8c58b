"""Bad input changes nothing: every forged, stale, malformed, oversized, tampered or injected request gets a
4xx with a clear message, never a 5xx, and every table is exactly as it was (compared row by row)."""
import json
import re
import time

import pytest

from tests.support.emulator import WEBHOOK_SECRET
from tests.support.events import event_payload, sign
from security_checks import HOSTILE_EMAILS, dump, fill_cart, pending_order

INJECTIONS = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "' OR '1'='1", "1; DROP TABLE product;--",
              "enamel-mug' --", "${7*7}{{7*7}}", "\x00", "../../etc/passwd", "é" * 300]


@pytest.fixture
def app(make_app, settings):
    """Rate limits out of the way: the floods have their own tests below."""
    return make_app(settings.with_overrides(rate_limit_confirm="10000/minute", rate_limit_webhook="10000/minute"))


@pytest.fixture
def shop(app, client):
    """The app with a pending order, a shopper with one mug in the cart, and the checkout attempt id."""
    public_id = pending_order(app)
    fill_cart(client)
    attempt_id = re.search(r'data-attempt-id="([0-9a-f]{32})"', client.get("/checkout").get_data(as_text=True))[1]
    return {"public_id": public_id, "attempt_id": attempt_id}


def _unchanged(app, client, send):
    """Send one bad request; assert a clear 4xx and that no table and not the cart changed. Returns the response."""
    before, cart_before = dump(app), _cart(client)
    response = send()
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert _message(response), response.get_data(as_text=True)[:300]
    assert dump(app) == before
    assert _cart(client) == cart_before
    return response


def _cart(client):
    """The shopper's cart cookie (the cart's rows are in `dump`)."""
    cookie = client.get_cookie("cart")
    return cookie.value if cookie is not None else None


def _message(response) -> str:
    if response.is_json:
        return response.json.get("error", "")
    html = response.get_data(as_text=True)
    found = (re.search(r'data-testid="error-message"[^>]*>(.*?)</p>', html, re.S)
             or re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S))
    return re.sub(r"<[^>]+>", "", found[1]).strip() if found else ""


# ---- the webhook ---------------------------------------------------------------------------------------------

def _event(public_id, amount=1200, currency="usd"):
    return event_payload("payment_intent.succeeded", {"id": "pi_bad_1", "object": "payment_intent", "amount": amount,
                                                      "currency": currency, "status": "succeeded",
                                                      "metadata": {"order_id": public_id}})


def _webhook_cases(public_id):
    body = _event(public_id)
    now = int(time.time())
    good = sign(body)
    mac = good.split("v1=")[1]
    tampered = body.replace('"amount": 1200', '"amount": 1')
    return {
        "missing header": (body, None),
        "empty header": (body, ""),
        "forged with another secret": (body, sign(body, "whsec_forged")),
        "stale (an hour old)": (body, sign(body, timestamp=now - 3600)),
        "future (an hour ahead)": (body, sign(body, timestamp=now + 3600)),
        "several signatures, none valid": (body, f"t={now},v1={'0' * 64},v1={'f' * 64}"),
        "a valid signature for another timestamp": (body, f"t={now - 10},v1={mac}"),
        "v0 scheme only": (body, f"t={now},v0={mac}"),
        "garbage header": (body, "garbage"),
        "non-numeric timestamp": (body, f"t=abc,v1={mac}"),
        "tampered amount": (tampered, good),
        "tampered currency": (body.replace('"currency": "usd"', '"currency": "jpy"'), good),
        "signed but not JSON": ("not json", sign("not json")),
        "signed but not an event": ('{"hello": "world"}', sign('{"hello": "world"}')),
        "signed but a list": ("[1, 2]", sign("[1, 2]")),
        "signed but nested 5000 deep": ("[" * 5000 + "]" * 5000, sign("[" * 5000 + "]" * 5000)),
        "signed event with a string for data": (json.dumps({"id": "evt_x", "type": "t", "data": "x"}),
                                                sign(json.dumps({"id": "evt_x", "type": "t", "data": "x"}))),
        "signed event with a 300-character id": (json.dumps({"id": "evt_" + "a" * 300, "type": "t"}),
                                                  sign(json.dumps({"id": "evt_" + "a" * 300, "type": "t"}))),
    }


def test_bad_webhook_deliveries_get_400_and_store_nothing(app, client, shop):
    for name, (body, header) in _webhook_cases(shop["public_id"]).items():
        headers = {} if header is None else {"Stripe-Signature": header}
        response = _unchanged(app, client, lambda: client.post("/webhooks/stripe", data=body, headers=headers,
                                                                 content_type="application/json"))
        assert response.status_code == 400, name
        assert "invalid webhook" in response.json["error"], name


def test_a_non_utf8_body_is_refused(app, client, shop):
    body = b'{"id": "evt_\xff"}'
    import hashlib
    import hmac

    now = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    response = _unchanged(app, client, lambda: client.post("/webhooks/stripe", data=body,
                                                             headers={"Stripe-Signature": f"t={now},v1={mac}"}))
    assert response.status_code == 400


def test_an_oversized_webhook_body_gets_413(app, client, shop, settings):
    body = json.dumps({"id": "evt_big", "type": "x", "pad": "x" * settings.webhook_max_body})
    response = _unchanged(app, client, lambda: client.post("/webhooks/stripe", data=body,
                                                             headers={"Stripe-Signature": sign(body)}))
    assert response.status_code == 413


def test_a_valid_delivery_among_several_signatures_is_accepted(app, client, shop):
    """Control: during secret rotation Stripe sends several v1 signatures; one valid one is enough."""
    body = _event(shop["public_id"])
    header = sign(body) + ",v1=" + "0" * 64
    response = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header},
                           content_type="application/json")
    assert response.status_code == 200


# ---- the confirm endpoint ------------------------------------------------------------------------------------

def _confirm_cases(attempt_id):
    valid = {"confirmation_token": "ctoken_abc123", "attempt_id": attempt_id, "email": "a@example.com"}
    cases = {
        "not JSON": ("{not json", "application/json"),
        "a form instead of JSON": ("confirmation_token=ctoken_1", "application/x-www-form-urlencoded"),
        "a JSON list": ("[1, 2, 3]", "application/json"),
        "a JSON string": ('"ctoken_1"', "application/json"),
        "JSON null": ("null", "application/json"),
        "nested 2000 deep": ("[" * 2000 + "]" * 2000, "application/json"),
        "tampered amount": ({**valid, "amount": 1}, None),
        "tampered currency": ({**valid, "currency": "jpy"}, None),
        "tampered product ids": ({**valid, "lines": [{"product_id": "burr-grinder", "quantity": 1}]}, None),
        "a payment method instead of a token": ({**valid, "confirmation_token": "pm_card_visa"}, None),
        "a token of the wrong type": ({**valid, "confirmation_token": 12345}, None),
        "an attempt id that is not hex": ({**valid, "attempt_id": "z" * 32}, None),
        "an attempt id of a list": ({**valid, "attempt_id": [attempt_id]}, None),
        "another shopper's attempt id": ({**valid, "attempt_id": "e" * 32}, None),
        "no email": ({k: v for k, v in valid.items() if k != "email"}, None),
        "no token": ({k: v for k, v in valid.items() if k != "confirmation_token"}, None),
    }
    for address in HOSTILE_EMAILS:
        cases[f"not one mailbox: {address!r}"] = ({**valid, "email": address}, None)
    for number, text in enumerate(INJECTIONS):
        cases[f"injection {number} in the email"] = ({**valid, "email": text}, None)
        cases[f"injection {number} in the token"] = ({**valid, "confirmation_token": "ctoken_" + text}, None)
        cases[f"injection {number} in the attempt id"] = ({**valid, "attempt_id": text}, None)
    return cases


def test_bad_confirm_requests_get_a_clear_4xx_and_create_no_order(app, client, shop):
    for name, (body, content_type) in _confirm_cases(shop["attempt_id"]).items():
        if content_type is None:
            send = lambda: client.post("/checkout/confirm", json=body)  # noqa: E731
        else:
            send = lambda: client.post("/checkout/confirm", data=body, content_type=content_type)  # noqa: E731
        response = _unchanged(app, client, send)
        assert response.status_code in (400, 409), name
        assert not any(text in response.json["error"] for text in INJECTIONS if len(text) > 1), name


def test_an_oversized_confirm_body_gets_413(app, client, shop):
    body = {"confirmation_token": "ctoken_" + "a" * 200, "attempt_id": shop["attempt_id"], "email": "a@b.co",
            "pad": "x" * 20_000}
    response = _unchanged(app, client, lambda: client.post("/checkout/confirm", json=body))
    assert response.status_code == 413


# ---- the cart ------------------------------------------------------------------------------------------------

QUANTITIES = ["-1", "0", "100", "999", str(10**30), "1.5", "1e2", "", " ", "abc", "1_0", "+5", "٣", "0x10", "NaN",
              "Infinity", "-0", "1,5"]


def test_bad_quantities_are_refused_with_a_clear_message(app, client, shop):
    for quantity in QUANTITIES:
        for path in ("/cart/add", "/cart/update"):
            response = _unchanged(app, client, lambda: client.post(path, data={"product_id": "enamel-mug",
                                                                               "quantity": quantity}))
            assert response.status_code == 400, (path, quantity)
            assert "Quantity must be" in _message(response) or "at most" in _message(response), (path, quantity)


def test_unknown_and_injected_product_ids_are_refused(app, client, shop):
    for product_id in ["no-such-product", "", *INJECTIONS]:
        response = _unchanged(app, client, lambda: client.post("/cart/add", data={"product_id": product_id,
                                                                                  "quantity": "1"}))
        assert response.status_code == 400
        assert _message(response) in ("That product does not exist.", "Requests may not contain NUL characters.")
        assert "<script>alert(1)" not in response.get_data(as_text=True)
        assert "onerror=alert" not in response.get_data(as_text=True)


def test_more_than_the_stock_is_refused(app, client, shop):
    response = _unchanged(app, client, lambda: client.post("/cart/add", data={"product_id": "burr-grinder",
                                                                              "quantity": "16"}))
    assert "only 15" in _message(response)


def test_updating_a_product_not_in_the_cart_is_refused(app, client, shop):
    response = _unchanged(app, client, lambda: client.post("/cart/update", data={"product_id": "burr-grinder",
                                                                                 "quantity": "2"}))
    assert _message(response) == "That product is not in your cart."


def test_removing_an_injected_product_id_changes_nothing(app, client, shop):
    for product_id in INJECTIONS:
        before, cart = dump(app), _cart(client)
        assert client.post("/cart/remove", data={"product_id": product_id}).status_code in (303, 400)
        assert dump(app) == before and _cart(client) == cart


def test_an_oversized_cart_form_gets_413(app, client, shop):
    response = _unchanged(app, client, lambda: client.post("/cart/add", data={"product_id": "x" * 5000,
                                                                              "quantity": "1"}))
    assert response.status_code == 413


def test_nul_characters_anywhere_get_400_not_a_database_error(app, client, shop):
    """PostgreSQL cannot store NUL: without this rule, each of these was a 500 on the production profile."""
    valid = {"confirmation_token": "ctoken_abc", "attempt_id": shop["attempt_id"], "email": "a\x00@example.com"}
    sends = [lambda: client.get("/products/enamel%00mug"), lambda: client.get(f"/orders/{shop['public_id']}%00"),
             lambda: client.get("/?q=%00"), lambda: client.post("/cart/add", data={"product_id": "mug\x00"}),
             lambda: client.post("/cart/update", data={"product_id": "enamel-mug", "quantity": "1\x00"}),
             lambda: client.post("/checkout/confirm", json=valid),
             lambda: client.post("/csp-report", content_type="application/csp-report",
                                 data=json.dumps({"csp-report": {"document-uri": "http://x/\x00"}}))]
    for send in sends:
        response = _unchanged(app, client, send)
        assert response.status_code == 400
        assert _message(response) == "Requests may not contain NUL characters."


def test_injected_paths_and_headers_are_never_echoed(app, client, shop):
    for text in INJECTIONS[:3]:
        response = _unchanged(app, client, lambda: client.get(f"/products/{text}"))
        assert response.status_code == 404
        assert text not in response.get_data(as_text=True)
        response = client.get(f"/orders/{text}/status")
        assert response.status_code == 404 and text not in response.get_data(as_text=True)
    response = client.get("/", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


# ---- CSRF ----------------------------------------------------------------------------------------------------

@pytest.fixture
def csrf_app(make_app, settings):
    app = make_app(settings)
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def _page_token(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))[1]


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(csrf_app):
    client = csrf_app.test_client()
    other = csrf_app.test_client()
    for token in (None, "", "wrong", _page_token(other)):
        data = {"product_id": "enamel-mug", "quantity": "1"}
        if token is not None:
            data["csrf_token"] = token
        for path in ("/cart/add", "/cart/update", "/cart/remove"):
            response = _unchanged(csrf_app, client, lambda: client.post(path, data=data))
            assert response.status_code == 400, (path, token)
            assert "session expired or the form was tampered with" in _message(response)


def test_confirm_without_or_with_a_wrong_csrf_header_is_refused(csrf_app):
    client = csrf_app.test_client()
    client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1", "csrf_token": _page_token(client)})
    page = client.get("/checkout").get_data(as_text=True)
    attempt_id = re.search(r'data-attempt-id="([0-9a-f]{32})"', page)[1]
    body = {"confirmation_token": "ctoken_abc", "attempt_id": attempt_id, "email": "a@example.com"}
    for headers in ({}, {"X-CSRFToken": "wrong"}, {"X-CSRFToken": _page_token(csrf_app.test_client())}):
        response = _unchanged(csrf_app, client, lambda: client.post("/checkout/confirm", json=body, headers=headers))
        assert response.status_code == 400
        assert "tampered" in response.json["error"]


def test_a_valid_csrf_token_is_accepted_and_the_webhook_needs_none(csrf_app):
    client = csrf_app.test_client()
    response = client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1",
                                              "csrf_token": _page_token(client)})
    assert response.status_code == 303
    body = event_payload("customer.created", {"id": "cus_1", "object": "customer"})
    assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)},
                       content_type="application/json").status_code == 200


# ---- rate limits ---------------------------------------------------------------------------------------------

@pytest.fixture
def limited(make_app, settings):
    return make_app(settings.with_overrides(rate_limit_confirm="3/minute", rate_limit_webhook="3/minute",
                                            rate_limit_csp_report="3/minute", trusted_proxies=1))


@pytest.mark.parametrize("path, body, content_type", [
    ("/checkout/confirm", "{}", "application/json"),
    ("/webhooks/stripe", "{}", "application/json"),
    ("/csp-report", '{"csp-report": {}}', "application/csp-report"),
])
def test_floods_get_429_with_retry_after_and_a_clear_message(limited, path, body, content_type):
    client = limited.test_client()
    statuses = [client.post(path, data=body, content_type=content_type).status_code for _ in range(3)]
    assert 429 not in statuses
    response = _unchanged(limited, client, lambda: client.post(path, data=body, content_type=content_type))
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.json["error"] == "Too many requests. Please wait a moment."


def test_the_webhook_limit_counts_only_refused_requests(limited):
    """Stripe's signed deliveries never spend the webhook's limit (a 429 would only delay fulfilment); a flood
    of unsigned ones is still cut off once over it."""
    client = limited.test_client()
    for n in range(6):  # twice the limit
        body = event_payload("customer.created", {"id": f"cus_{n}", "object": "customer"})
        assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)},
                           content_type="application/json").status_code == 200
    statuses = [client.post("/webhooks/stripe", data="{}", content_type="application/json").status_code
                for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    body = event_payload("customer.created", {"id": "cus_after", "object": "customer"})
    assert client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)},
                       content_type="application/json").status_code == 200  # the signed ones still get in


def test_the_webhook_refusal_limit_survives_the_store_being_down(make_app, settings):
    app = make_app(settings.with_overrides(rate_limit_storage="redis://127.0.0.1:1/0", rate_limit_webhook="2/minute"))
    client = app.test_client()
    statuses = [client.post("/webhooks/stripe", data="{}", content_type="application/json").status_code
                for _ in range(3)]
    assert statuses == [400, 400, 429]  # counted in this process's memory, no 500


def test_off_turns_a_limit_off(make_app, settings):
    app = make_app(settings.with_overrides(rate_limit_confirm="off", rate_limit_webhook="off"))
    client = app.test_client()
    assert 429 not in {client.post("/checkout/confirm", json={}).status_code for _ in range(30)}
    assert 429 not in {client.post("/webhooks/stripe", data="{}", content_type="application/json").status_code
                       for _ in range(30)}


def test_each_client_address_has_its_own_budget(limited):
    client = limited.test_client()
    for _ in range(3):
        client.post("/checkout/confirm", json={}, headers={"X-Forwarded-For": "198.51.100.1"})
    assert client.post("/checkout/confirm", json={}, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 429
    assert client.post("/checkout/confirm", json={}, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 400


def test_pages_are_not_rate_limited(limited):
    client = limited.test_client()
    assert {client.get("/").status_code for _ in range(10)} == {200}


def test_rate_limits_survive_the_limit_store_being_down(make_app, settings):
    app = make_app(settings.with_overrides(rate_limit_storage="redis://127.0.0.1:1/0", rate_limit_confirm="2/minute"))
    client = app.test_client()
    statuses = [client.post("/checkout/confirm", json={}).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]  # in-memory fallback, no 500


def test_a_hung_limit_store_delays_a_request_by_seconds_not_forever(make_app, settings):
    """A store that accepts connections and never answers (a hung Redis): the socket timeouts end the wait and the
    in-memory fallback counts, for both kinds of limit."""
    import socket
    import time

    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        app = make_app(settings.with_overrides(rate_limit_storage=f"redis://127.0.0.1:{port}/0",
                                               rate_limit_confirm="2/minute", rate_limit_webhook="2/minute"))
        client = app.test_client()
        started = time.monotonic()
        confirm = [client.post("/checkout/confirm", json={}).status_code for _ in range(3)]
        webhook = [client.post("/webhooks/stripe", data="{}", content_type="application/json").status_code
                   for _ in range(3)]
        assert confirm == [400, 400, 429] and webhook == [400, 400, 429]
        assert time.monotonic() - started < 20  # about a second per request; without timeouts, over 30 s
    finally:
        listener.close()


# ---- the Host header -----------------------------------------------------------------------------------------

BAD_HOSTS = ["evil.example", "localhost.evil.example", "127.0.0.1.evil.example", "localhost:99999", "local host",
             "localhost@evil.example", "[::1]", "localhost\\x", ""]


def test_foreign_and_malformed_host_headers_get_400_on_every_path_and_change_nothing(app, client, shop):
    body = _event(shop["public_id"])
    confirm = {"confirmation_token": "ctoken_abc123", "attempt_id": shop["attempt_id"], "email": "a@example.com"}
    for host in BAD_HOSTS:
        before, cart_before = dump(app), _cart(client)
        headers = {"Host": host}
        for response in (client.get("/checkout", headers=headers),
                         client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"}, headers=headers),
                         client.post("/checkout/confirm", json=confirm, headers=headers),
                         client.post("/webhooks/stripe", data=body, content_type="application/json",
                                     headers={**headers, "Stripe-Signature": sign(body)})):
            assert response.status_code == 400, (host, response.request.path, response.status_code)
            assert "does not answer to that host name" in response.get_data(as_text=True)
        assert dump(app) == before, host
        assert _cart(client) == cart_before, host


# ---- made-up confirmation tokens (hoarding the stock) ----------------------------------------------------------

def _stock_and_holds(app):
    tables = dump(app)
    return tables["product"], [row for row in tables["order"] if "'pending'" in row and ", True," in row]


def test_made_up_confirmation_tokens_get_a_clear_error_and_hold_no_stock(make_app, stripe_settings, emulator):
    from tests.support.shopper import Checkout

    app = make_app(stripe_settings.with_overrides(rate_limit_confirm="", breaker_fail_max=1000))
    spent = Checkout(app, emulator)
    used = spent.token()
    assert spent.confirm(used).json["status"] == "succeeded"
    shopper = Checkout(app, emulator, product="burr-grinder", quantity=15)  # the whole stock
    tokens = {"the issue's": "ctoken_" + "A" * 32, "one character": "ctoken_A", "the longest": "ctoken_" + "z" * 250,
              "a payment method's shape": "ctoken_pm_card_visa", "another shopper's, already used": used}
    for name, token in tokens.items():
        products, holds = _stock_and_holds(app)
        cart = _cart(shopper.client)
        response = shopper.confirm(token)
        assert response.status_code in (400, 409, 502), (name, response.status_code, response.json)
        assert response.json["status"] == "error" and response.json["error"], name
        assert _stock_and_holds(app) == (products, holds), name  # no stock moved, no order holds any
        assert _cart(shopper.client) == cart, name


# ---- admin refund amounts ------------------------------------------------------------------------------------

BAD_AMOUNTS = ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "inf", "1e400", "1E+2", "-1", "-0.01", "0", "0.00",
               "1.001", "0.001", "", "   ", "abc", "1,00", "12.5.0", "0x10", "9" * 40, "٨٩", "８９", "one cent more",
               "1 000", "1_000", "21474836.48", "999999999999",
               "+1", ".5", "<script>alert(1)</script>", "1; DROP TABLE refund;--"]


@pytest.fixture
def paid_order(make_app, settings):
    """An admin logged in and a paid order whose refund would go to an unreachable Stripe: only the amount's
    parsing stands between a bad amount and a refund."""
    from werkzeug.security import generate_password_hash

    from app.models import Order, Product, db

    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash("refund bad input pw")))
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id="e" * 32, amount=product.price - 1, currency="usd", state="fulfilled",
                      email="shopper@example.com", payment_intent_id="pi_bad_input")
        db.session.add(order)
        db.session.commit()
        public_id, amount = order.public_id, order.amount
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "admin", "password": "refund bad input pw"}).status_code == 302
    return app, admin, public_id, amount


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_bad_refund_amounts_get_400_with_a_message_and_change_nothing(paid_order, amount):
    app, admin, public_id, total = paid_order
    if amount == "one cent more":  # than the order's amount
        amount = "%d.%02d" % divmod(total + 1, 100)
    before = dump(app)
    response = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": amount, "form_token": "b" * 32})
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    message = re.search(r'notice-error" role="status"><p>(.*?)</p>', response.get_data(as_text=True))
    assert message and any(word in message[1] for word in ("number", "positive", "decimals", "more than")), message
    assert dump(app) == before


# ---- CSP reports ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/csp-report", 400),
    (b"\xff\xfe\x00", "application/reports+json", 400),
    (b'{"csp-report": []}', "application/csp-report", 400),
    (b'"csp-report"', "application/reports+json", 400),
    (json.dumps([{"type": "csp-violation", "body": {}}] * 21).encode(), "application/reports+json", 400),
    (b"[" * 4000 + b"]" * 4000, "application/reports+json", 400),
    (b'{"csp-report": {}}', "application/x-www-form-urlencoded", 415),
    (b'{"csp-report": {"blocked-uri": "' + b"x" * 9000 + b'"}}', "application/csp-report", 413),
])
def test_malformed_csp_reports_get_a_clear_4xx_and_store_nothing(app, client, body, content_type, status):
    response = _unchanged(app, client, lambda: client.post("/csp-report", data=body, content_type=content_type))
    assert response.status_code == status


def test_a_csp_report_flood_past_the_rate_limit_stores_nothing_more(limited):
    client = limited.test_client()
    for n in range(3):
        assert client.post("/csp-report", content_type="application/csp-report", data=json.dumps(
            {"csp-report": {"document-uri": "http://x/p", "blocked-uri": f"https://h{n}.example/"}})).status_code == 204
    flood = json.dumps([{"type": "csp-violation", "body": {"documentURL": "http://x/p", "blockedURL": f"https://f{n}.x/"}}
                        for n in range(20)])
    response = _unchanged(limited, client, lambda: client.post("/csp-report", data=flood,
                                                               content_type="application/reports+json"))
    assert response.status_code == 429
