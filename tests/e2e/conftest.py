"""E2E: the real shop (gunicorn), a real RQ worker, a real Valkey/Redis and the emulator, driven by Chromium."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import (EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY, ROOT, WEBHOOK_SECRET, EmulatorProcess,
                     free_port, wait_for_http)


LIVE = os.environ.get("E2E_STRIPE") == "live"  # run against Stripe's test mode with the keys in the environment


def pytest_collection_modifyitems(config, items):
    """Against real Stripe only the tests marked `live_ok` run: the rest drive the emulator's fault API."""
    if not LIVE:
        return
    skip = pytest.mark.skip(reason="needs the emulator (E2E_STRIPE=live)")
    for item in items:
        if "live_ok" not in item.keywords and "/e2e/" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class Shop:
    url: str
    emulator: EmulatorProcess | None
    database_url: str
    log_path: Path
    env: dict


@pytest.fixture(scope="session")
def e2e_redis_url(redis_url):
    """Database 1 of the session's Redis: the E2E shop's worker must never take other tests' jobs (db 0)."""
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(redis_url)._replace(path="/1"))


@pytest.fixture(scope="session")
def shop(tmp_path_factory, e2e_redis_url):
    redis_url = e2e_redis_url
    tmp = tmp_path_factory.mktemp("shop")
    port = int(os.environ.get("E2E_SHOP_PORT", "5055")) if LIVE else free_port()
    url = f"http://127.0.0.1:{port}"
    emulator = None if LIVE else EmulatorProcess(f"{url}/webhooks/stripe", WEBHOOK_SECRET)
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp / 'shop.sqlite3'}"
    env = {**os.environ, "SHOP_ENV": "development", "SECRET_KEY": "e2e-" + "k" * 40,
           "DATABASE_URL": database_url, "REDIS_URL": redis_url, "STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY,
           "STRIPE_PUBLISHABLE_KEY": EMULATOR_PUBLISHABLE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "STRIPE_API_BASE": emulator.api, "STRIPE_JS_URL": f"{emulator.api}/v3/", "RELAY_INTERVAL": "2",
           "BREAKER_RESET_TIMEOUT": "3", "PYTHONUNBUFFERED": "1", "PUBLIC_URL": url,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
           # every browser here is 127.0.0.1: the UI suites pay far more than 20 times a minute (the limit
           # itself is tested in tests/integration/test_bad_input.py)
           "RATE_LIMIT_CONFIRM": "1000/minute"}
    if LIVE:  # keys and webhook secret (from `stripe listen --forward-to URL/webhooks/stripe`) from the environment
        for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
            env[name] = os.environ[name]
        for name in ("STRIPE_API_BASE", "STRIPE_JS_URL"):
            env.pop(name)
    log_path = tmp / "shop.log"
    log = log_path.open("w")
    from redis import Redis

    Redis.from_url(redis_url).flushdb()
    if os.environ.get("TEST_DATABASE_URL"):
        from sqlalchemy import create_engine, text

        with create_engine(database_url).begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    subprocess.run([sys.executable, "-m", "app.cli", "seed"], env=env, cwd=ROOT, check=True, stdout=log)
    processes = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                          "--threads", "4", "--timeout", "30", "app:create_app()"],
                         env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "worker.py"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT),
    ]
    try:  # a shop that fails to start still has its processes stopped
        wait_for_http(f"{url}/healthz")
        yield Shop(url, emulator, database_url, log_path, env)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if emulator is not None:
            emulator.stop()
        log.close()


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
