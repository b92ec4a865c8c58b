"""An order that doesn't exist: a browser gets the shop's own 404 page; the status endpoint and a client that asks
for JSON get JSON."""
import re

from security_checks import csp_without_nonce, pending_order

UNKNOWN = "0123456789abcdef" * 2
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_opening_an_unknown_order_gets_the_branded_404_page(client):
    response = client.get(f"/orders/{UNKNOWN}", headers=BROWSER)
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert '<html lang="en">' in html
    assert "<title>Page not found (404) · Ember &amp; Grind</title>" in html
    assert re.search(r"<h1[^>]*>Page not found</h1>", html)
    assert 'href="/"' in html  # the way back to the shop
    assert csp_without_nonce(response.headers["Content-Security-Policy"]).startswith("default-src 'self'")


def test_an_unknown_order_without_an_accept_header_is_html_too(client):
    response = client.get(f"/orders/{UNKNOWN}")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_the_status_of_an_unknown_order_is_json(client):
    response = client.get(f"/orders/{UNKNOWN}/status", headers=BROWSER)
    assert response.status_code == 404
    assert response.get_json() == {"status": "error", "error": "We couldn't find that page."}


def test_a_client_asking_for_json_gets_json(client):
    response = client.get(f"/orders/{UNKNOWN}", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.get_json() == {"status": "error", "error": "We couldn't find that page."}


def test_a_known_order_is_still_its_page(app, client):
    response = client.get(f"/orders/{pending_order(app)}", headers=BROWSER)
    assert response.status_code == 200 and response.mimetype == "text/html"
