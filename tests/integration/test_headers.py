"""Every page type carries the exact security headers: the CSP (nonce-based, Stripe's origins only), the
reporting endpoint, and the browser policies; production adds HSTS, the HTTPS redirect and Secure cookies."""
import re

import pytest

from tests.support.production import METRICS_TOKEN
from security_checks import NONCE, csp_without_nonce, fill_cart, pending_order

EMULATOR_CSP = ("default-src 'self'; script-src 'self' http://127.0.0.1:9 'nonce-N'; style-src 'self'; "
                "img-src 'self' data:; frame-src http://127.0.0.1:9; connect-src 'self' http://127.0.0.1:9; "
                "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                "report-uri /csp-report")
STRIPE_CSP = ("default-src 'self'; script-src 'self' https://js.stripe.com https://*.js.stripe.com 'nonce-N'; "
              "style-src 'self'; img-src 'self' data: https://*.stripe.com; "
              "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com; "
              "connect-src 'self' https://api.stripe.com; font-src 'self'; object-src 'none'; base-uri 'none'; "
              "form-action 'self'; frame-ancestors 'none'; report-uri /csp-report")
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PERMISSIONS = ('payment=(self "{origin}"), camera=(), microphone=(), geolocation=(), usb=(), '
               'browsing-topics=()')


def _pages(app, client):
    """(name, path, expected status) of every page type, with the state each needs."""
    public_id = pending_order(app)
    fill_cart(client)
    return [("catalog", "/", 200), ("product", "/products/enamel-mug", 200), ("cart", "/cart", 200),
            ("checkout", "/checkout", 200), ("order", f"/orders/{public_id}", 200),
            ("order status", f"/orders/{public_id}/status", 200), ("not found", "/no-such-page", 404),
            ("unknown product", "/products/nope", 404), ("wrong method", "/checkout/confirm", 405),
            ("bad request", "/cart/add", 400), ("unknown order", "/orders/" + "0" * 32, 404),
            ("terms", "/terms", 200), ("privacy", "/privacy", 200), ("shipping and returns", "/shipping-returns", 200),
            ("contact", "/contact", 200)]


def _get(client, path):
    return client.post(path, data={}) if path == "/cart/add" else client.get(path)


def test_every_page_type_carries_the_exact_csp_and_headers(app, client):
    for name, path, status in _pages(app, client):
        response = _get(client, path)
        assert response.status_code == status, name
        assert csp_without_nonce(response.headers["Content-Security-Policy"]) == EMULATOR_CSP, name
        for header, value in FIXED_HEADERS.items():
            assert response.headers.get(header) == value, (name, header)
        assert response.headers["Permissions-Policy"] == PERMISSIONS.format(origin="http://127.0.0.1:9"), name
        assert "Strict-Transport-Security" not in response.headers, name  # development: plain HTTP
        assert "Reporting-Endpoints" not in response.headers, name  # report-uri only over plain HTTP


def test_the_csp_never_allows_inline_code_eval_or_strict_dynamic(app, client):
    fill_cart(client)
    policy = client.get("/checkout").headers["Content-Security-Policy"]
    for forbidden in ("unsafe-inline", "unsafe-eval", "strict-dynamic", "unsafe-hashes", "*;", " * "):
        assert forbidden not in policy


def test_every_script_tag_carries_this_responses_nonce_and_the_nonce_changes(app, client):
    fill_cart(client)
    nonces = set()
    for path in ("/checkout", "/checkout", "/", f"/orders/{pending_order(app)}"):
        response = client.get(path)
        nonce = NONCE.search(response.headers["Content-Security-Policy"]).group(1)
        html = response.get_data(as_text=True)
        tags = re.findall(r"<script\b[^>]*>", html)
        assert all(f'nonce="{nonce}"' in tag for tag in tags), tags
        assert "<script>" not in html and not re.search(r"<script\b(?![^>]*\bsrc=)", html)  # no inline scripts
        nonces.add(nonce)
    assert len(nonces) == 4


def test_the_shops_own_scripts_carry_subresource_integrity_of_the_served_file(app, client):
    import base64
    import hashlib

    fill_cart(client)
    pages = {"/checkout": "js/checkout.js", f"/orders/{pending_order(app)}": "js/order.js"}
    for path, filename in pages.items():
        html = client.get(path).get_data(as_text=True)
        tag = re.search(rf'<script[^>]*src="(/static/{filename}\?v=[0-9a-f]+)"[^>]*>', html)
        served = client.get(tag.group(1)).get_data()
        expected = "sha384-" + base64.b64encode(hashlib.sha384(served).digest()).decode()
        assert f'integrity="{expected}"' in tag.group(0)


def test_pointed_at_real_stripe_the_csp_names_stripes_documented_origins(make_app, settings):
    app = make_app(settings.with_overrides(stripe_js_url="https://js.stripe.com/v3/", stripe_api_base=""))
    client = app.test_client()
    fill_cart(client)
    response = client.get("/checkout")
    assert csp_without_nonce(response.headers["Content-Security-Policy"]) == STRIPE_CSP
    assert response.headers["Permissions-Policy"] == PERMISSIONS.format(origin="https://js.stripe.com")
    # checkout.js loads Stripe.js from this address (never a copy), so that it can tell a blocked script apart
    assert 'data-stripe-js-url="https://js.stripe.com/v3/"' in response.get_data(as_text=True)


@pytest.fixture
def production(make_app, production_settings):
    return make_app(production_settings)


def test_production_redirects_plain_http_to_https(production):
    response = production.test_client().get("/products/enamel-mug?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://localhost/products/enamel-mug?x=1"


def test_production_sends_hsts_over_https(production):
    response = production.test_client().get("/", base_url="https://localhost")
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
    assert response.headers["Reporting-Endpoints"] == 'csp-endpoint="https://localhost/csp-report"'
    assert csp_without_nonce(response.headers["Content-Security-Policy"]) == (
        EMULATOR_CSP.replace("http://", "https://") + "; report-to csp-endpoint")
    for header, value in FIXED_HEADERS.items():
        assert response.headers.get(header) == value, header


def test_production_health_probes_answer_over_plain_http(production):
    client = production.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_scheme_counts(make_app, production_settings):
    app = make_app(production_settings.with_overrides(trusted_proxies=1))
    response = app.test_client().get("/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response.headers


def _session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[0]


def test_the_session_cookie_is_httponly_and_samesite_lax_in_development(client):
    cookie = _session_cookie(client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"}))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain-HTTP development would lose it


def test_the_session_cookie_is_secure_httponly_and_samesite_lax_in_production(production):
    client = production.test_client()
    cookie = _session_cookie(client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"},
                                         base_url="https://localhost"))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_the_app_refuses_to_start_without_a_secret_key(settings):
    from app import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app(settings.with_overrides(secret_key=""))
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app(settings.with_overrides(env="production", secret_key="short"))


def test_order_pages_and_their_status_are_never_stored_by_a_cache(app, client):
    public_id = pending_order(app)
    for path in (f"/orders/{public_id}", f"/orders/{public_id}/status", "/orders/no-such-order"):
        response = client.get(path)
        assert response.headers.get("Cache-Control") == "no-store", (path, response.status_code)
