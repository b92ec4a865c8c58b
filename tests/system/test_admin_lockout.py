"""The admin lockout against the real thing: gunicorn (several processes, many threads), Redis and, in front, the
real nginx of deploy/nginx/. Thirty wrong passwords sent at once get exactly ADMIN_MAX_FAILURES checks, a forged
X-Forwarded-For sent straight to gunicorn changes nothing, and through nginx the address nginx saw is the one
locked out. No attack changes an order, the stock, a payment or a refund, or opens a session."""
from __future__ import annotations

import os
import threading
from collections import Counter

import pytest
import requests
from werkzeug.security import generate_password_hash

from tests.support.net import free_port, wait_for_http
from tests.support.shopper import CSRF
from tests.support.stack import Stack
from test_proxy import nginx_binary, start_nginx

pytestmark = pytest.mark.slow
PASSWORD = "lockout stack password"
ATTEMPTS, LIMIT = 30, 5
KEPT = ['SELECT id, stock FROM product ORDER BY id', 'SELECT id, state, amount_refunded FROM "order" ORDER BY id',
        "SELECT id, status FROM payment_attempt ORDER BY id", "SELECT id, status FROM refund ORDER BY id",
        "SELECT count(*) FROM admin_session", "SELECT count(*) FROM admin_action"]


def start_stack(tmp_path, **env) -> Stack:
    return Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), workers=0, extra_env={
        "ADMIN_PASSWORD_HASH": generate_password_hash(PASSWORD), "ADMIN_MAX_FAILURES": str(LIMIT), **env}).start()


def kept(stack: Stack) -> list:
    return [stack.query(sql) for sql in KEPT]


def at_once(url: str, forms: list[dict], spoofed: list[str]) -> Counter:
    """Open a login page per attempt (its own session and CSRF token), then post all the attempts together."""
    prepared = []
    for form, forwarded_for in zip(forms, spoofed):
        http = requests.Session()
        page = http.get(f"{url}/admin/login", timeout=30, headers={"X-Forwarded-For": forwarded_for}).text
        prepared.append((http, {**form, "csrf_token": CSRF.search(page)[1]}, forwarded_for))
    start, statuses = threading.Barrier(len(prepared)), []

    def attempt(http, form, forwarded_for):
        start.wait()
        statuses.append(http.post(f"{url}/admin/login", data=form, timeout=60, allow_redirects=False,
                                  headers={"X-Forwarded-For": forwarded_for}).status_code)

    threads = [threading.Thread(target=attempt, args=args) for args in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(statuses)


def assert_limit_checked(statuses: Counter) -> None:
    """Exactly LIMIT attempts were checked (401), the rest refused unchecked: 429, or 503 if Redis was too slow to
    count one (which never adds a check)."""
    assert set(statuses) <= {401, 429, 503} and sum(statuses.values()) == ATTEMPTS, statuses
    assert statuses[401] == LIMIT if not statuses[503] else statuses[401] <= LIMIT, statuses


def spoofed_addresses() -> list[str]:
    return [f"203.0.113.{n}" for n in range(1, ATTEMPTS + 1)]


@pytest.fixture
def stack(tmp_path):
    running = start_stack(tmp_path)  # TRUSTED_PROXIES unset: 0, as when gunicorn is reached directly
    yield running
    running.stop()


def test_thirty_concurrent_wrong_passwords_for_one_name_get_exactly_the_limit_checked(stack):
    before = kept(stack)
    statuses = at_once(stack.url, [{"name": "admin", "password": f"guess {n}"} for n in range(ATTEMPTS)],
                       spoofed_addresses())
    assert_limit_checked(statuses)
    assert kept(stack) == before
    right = requests.Session()  # the name stays locked, even for the right password from another session
    page = right.get(f"{stack.url}/admin/login", timeout=30).text
    locked = right.post(f"{stack.url}/admin/login", data={"name": "admin", "password": PASSWORD,
                                                         "csrf_token": CSRF.search(page)[1]}, timeout=30)
    assert locked.status_code == 429


def test_a_forged_x_forwarded_for_sent_straight_to_gunicorn_does_not_escape_the_address_lockout(stack):
    before = kept(stack)
    forms = [{"name": f"guess-{n}", "password": "wrong"} for n in range(ATTEMPTS)]  # every name its own counter
    statuses = at_once(stack.url, forms, spoofed_addresses())
    assert_limit_checked(statuses)
    counted = {key.decode() for key in stack.redis().keys("shop:admin:login-attempts:address:*")}
    assert counted == {"shop:admin:login-attempts:address:127.0.0.1"}
    assert kept(stack) == before


def test_through_nginx_the_address_nginx_saw_is_the_one_locked_out(tmp_path):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): deploy/nginx/ not exercised")
    stack = start_stack(tmp_path, TRUSTED_PROXIES="1", COMPRESS_RESPONSES="false")  # as docker-compose.yml
    nginx = None
    try:
        port = free_port()
        nginx = start_nginx(tmp_path, port, f"127.0.0.1:{stack.port}", f"127.0.0.1:{stack.port}")
        front = f"http://127.0.0.1:{port}"
        wait_for_http(f"{front}/healthz")
        before = kept(stack)
        forms = [{"name": f"guess-{n}", "password": "wrong"} for n in range(ATTEMPTS)]
        statuses = at_once(front, forms, spoofed_addresses())
        assert_limit_checked(statuses)
        redis = stack.redis()
        counted = {key.decode(): int(redis.get(key)) for key in redis.keys("shop:admin:login-attempts:address:*")}
        assert set(counted) == {"shop:admin:login-attempts:address:127.0.0.1"}  # nginx's hop, not the forgery
        # an attempt answered 503 was refused unchecked: Redis may or may not have counted it before the timeout
        assert ATTEMPTS - statuses[503] <= counted["shop:admin:login-attempts:address:127.0.0.1"] <= ATTEMPTS
        assert kept(stack) == before
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        stack.stop()
