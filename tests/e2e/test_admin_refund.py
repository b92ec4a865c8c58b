"""A refund from the admin pages, end to end: gunicorn, an RQ worker and the emulator's signed webhooks.
The admin asks Stripe; the order moves only when `charge.refunded` comes back through the webhook."""
from __future__ import annotations

import os
import re

import requests
from werkzeug.security import generate_password_hash

from tests.support.shopper import Shopper

from tests.support.stack import Stack

PASSWORD = "refund-e2e-password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]+)"')


def admin_session(url: str) -> requests.Session:
    http = requests.Session()
    login = http.get(f"{url}/admin/login", timeout=10).text
    response = http.post(f"{url}/admin/login", data={"csrf_token": CSRF.search(login).group(1), "name": "admin",
                                                     "password": PASSWORD}, timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.text
    return http


def refund(http: requests.Session, url: str, public_id: str, amount: str) -> str:
    page = http.get(f"{url}/admin/orders/{public_id}", timeout=10).text
    response = http.post(f"{url}/admin/orders/{public_id}/refund", timeout=30, data={
        "csrf_token": CSRF.search(page).group(1), "form_token": FORM_TOKEN.search(page).group(1), "amount": amount})
    assert response.status_code == 200, response.text  # followed the redirect back to the order
    return response.text


def test_a_refund_from_the_admin_ends_with_the_order_refunded_by_the_webhook(tmp_path):
    stack = Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), workers=1,
                  extra_env={"ADMIN_PASSWORD_HASH": generate_password_hash(PASSWORD)}).start()
    try:
        anonymous = requests.get(f"{stack.url}/admin/orders", timeout=10, allow_redirects=False)
        assert anonymous.status_code == 302 and "/admin/login" in anonymous.headers["Location"]

        status, body = Shopper(stack).buy("enamel-mug", 1)
        assert status == 200 and body["status"] == "succeeded", body
        public_id = body["order_url"].rsplit("/", 1)[1]
        stack.wait_until(lambda: stack.order_states() == {"fulfilled": 1}, timeout=30)
        amount = stack.query('SELECT amount FROM "order"')[0][0]

        http = admin_session(stack.url)
        page = refund(http, stack.url, public_id, "1.00")  # partial first
        assert "Refund 1 is succeeded" in page
        stack.wait_until(lambda: stack.query('SELECT amount_refunded FROM "order"')[0][0] == 100, timeout=30)
        assert stack.order_states() == {"fulfilled": 1}

        rest = f"{(amount - 100) // 100}.{(amount - 100) % 100:02d}"
        refund(http, stack.url, public_id, rest)
        stack.wait_until(lambda: stack.order_states() == {"refunded": 1}, timeout=30)

        keys = [k for (k,) in stack.query("SELECT idempotency_key FROM refund ORDER BY number")]
        assert keys == [f"refund-{public_id}-1", f"refund-{public_id}-2"]
        timeline = http.get(f"{stack.url}/admin/orders/{public_id}", timeout=10).text
        assert "fulfilled → refunded" in timeline and "charge.refunded" in timeline
        assert "Nothing to refund" in timeline
        actions = stack.query("SELECT account_name, action, amount FROM admin_action ORDER BY id")
        assert actions == [("admin", "refund", 100), ("admin", "refund", amount - 100)]
    finally:
        stack.stop()


def test_the_admin_pages_pass_axe_and_load_nothing_the_csp_blocks(tmp_path, page):
    import storefront as sf

    stack = Stack(tmp_path, workers=1, extra_env={"ADMIN_PASSWORD_HASH": generate_password_hash(PASSWORD)}).start()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    try:
        status, body = Shopper(stack).buy("enamel-mug", 1)
        assert status == 200, body
        public_id = body["order_url"].rsplit("/", 1)[1]
        page.goto(f"{stack.url}/admin/")
        sf.assert_accessible(page)  # the login page
        page.get_by_label("Name").fill("admin")  # ADMIN_PASSWORD_HASH bootstraps the account `admin`
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/admin/")
        for path in ("/admin/", "/admin/orders", f"/admin/orders/{public_id}", "/admin/events", "/admin/jobs",
                     "/admin/csp-reports", "/admin/audit"):
            page.goto(stack.url + path)
            sf.assert_accessible(page)
        assert not violations, violations
    finally:
        stack.stop()
