"""E2E: the real shop (gunicorn), a real RQ worker, a real Valkey/Redis and the emulator, driven by Chromium."""
from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect
from redis import Redis

from tests.support.stack import Stack

# Assertions wait for their condition up to 15 s (Playwright's default is 5 s): the tiers run in parallel on
# small shared machines, where an iframe can take longer than 5 s to appear.
expect.set_options(timeout=15_000)
LIVE = os.environ.get("E2E_STRIPE") == "live"  # run against Stripe's test mode with the keys in the environment


def pytest_collection_modifyitems(config, items):
    """Against real Stripe only the tests marked `live_ok` run: the rest drive the emulator's fault API."""
    if not LIVE:
        return
    skip = pytest.mark.skip(reason="needs the emulator (E2E_STRIPE=live)")
    for item in items:
        if "live_ok" not in item.keywords and "/e2e/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def e2e_redis_url(redis_url):
    """The database after the session's Redis (1 on an embedded Valkey): the E2E shop's worker must never take
    other tests' jobs."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(redis_url)
    return urlunsplit(parts._replace(path=f"/{int(parts.path.strip('/') or 0) + 1}"))


@pytest.fixture(scope="session")
def shop(tmp_path_factory, e2e_redis_url):
    """The shop as tests/support/stack.py runs it (gunicorn, one RQ worker, the emulator, on PostgreSQL a
    database of its own), shared by the browser tests of this pytest run."""
    Redis.from_url(e2e_redis_url).flushdb()
    stack = Stack(tmp_path_factory.mktemp("shop"), database_url=os.environ.get("TEST_DATABASE_URL"),
                  redis_url=e2e_redis_url, web_workers=2, web_threads=4, workers=1, emulator=not LIVE,
                  port=int(os.environ.get("E2E_SHOP_PORT", "5055")) if LIVE else None,
                  # every browser here is 127.0.0.1: the UI suites pay far more than 20 times a minute (the limit
                  # itself is tested in tests/integration/test_bad_input.py)
                  extra_env={"RELAY_INTERVAL": "2", "BREAKER_RESET_TIMEOUT": "3", "RATE_LIMIT_CONFIRM": "1000/minute"})
    stack.extra_env["PUBLIC_URL"] = stack.url
    # with E2E_STRIPE=live the keys and webhook secret (from `stripe listen --forward-to URL/webhooks/stripe`)
    # come from the environment
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def shop_page(shop, page):
    if shop.emulator is not None:
        shop.emulator.ctl("DELETE", "/_emulator/faults")
        shop.emulator.ctl("POST", "/_emulator/outage", {"down": False})
    page.set_default_timeout(15000)
    return page


@pytest.fixture
def error_pages(make_app, settings):
    """The shop's error pages (400, 404, 429, 500, 503) as its own handlers render them."""
    from storefront import render_errors

    return render_errors(make_app(settings))
