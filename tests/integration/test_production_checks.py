"""Production refuses to start on settings an attacker would thank it for, names the setting, and serves only
the shop's own host names: each test starts the app with the unsafe setting or sends the forged request."""
from __future__ import annotations

import logging

import pytest

from app import create_app
from tests.support.emulator import EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY
from tests.support.production import METRICS_TOKEN
from security_checks import dump


@pytest.mark.parametrize("overrides, named", [
    ({"metrics_token": ""}, "METRICS_TOKEN"),
    ({"secret_key": "a" * 64}, "SECRET_KEY"),
    ({"secret_key": "change-me-to-a-long-random-string-please!"}, "SECRET_KEY"),
    ({"secret_key": "generate-with-python-c-import-secrets-print-secrets.token_hex-32"}, "SECRET_KEY"),
    ({"secret_key": "0123456789" * 2}, "SECRET_KEY"),
    ({"stripe_api_base": "http://api.stripe.com"}, "STRIPE_API_BASE"),
    ({"stripe_js_url": "http://js.stripe.com/v3/"}, "STRIPE_JS_URL"),
    ({"stripe_secret_key": EMULATOR_SECRET_KEY}, "STRIPE_SECRET_KEY"),
    ({"stripe_publishable_key": EMULATOR_PUBLISHABLE_KEY}, "STRIPE_PUBLISHABLE_KEY"),
    ({"allowed_hosts": ()}, "ALLOWED_HOSTS"),
    ({"allowed_hosts": ("*",)}, "ALLOWED_HOSTS"),
    ({"public_url": "https://shop.example"}, "PUBLIC_URL"),
])
def test_production_refuses_to_start_on_an_unsafe_setting_and_names_it(production_settings, overrides, named):
    with pytest.raises(RuntimeError, match=named):
        create_app(production_settings.with_overrides(**overrides))


def test_the_same_settings_start_outside_production(make_app, settings):
    app = make_app(settings.with_overrides(metrics_token="", secret_key="a" * 64))
    assert app.test_client().get("/healthz").status_code == 200


def test_production_starts_on_safe_settings_and_metrics_want_the_token(make_app, production_settings):
    client = make_app(production_settings).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def test_stripe_test_keys_in_production_are_logged_loudly_without_the_key(make_app, production_settings, caplog):
    caplog.set_level(logging.WARNING, logger="app.settings")
    make_app(production_settings.with_overrides(stripe_secret_key="sk_test_51Secretpart",
                                                stripe_publishable_key="pk_test_51Publicpart"))
    warnings = [record.getMessage() for record in caplog.records if record.name == "app.settings"]
    assert any("STRIPE_SECRET_KEY is a Stripe test-mode key" in message for message in warnings), warnings
    assert any("STRIPE_PUBLISHABLE_KEY is a Stripe test-mode key" in message for message in warnings), warnings
    assert not any("Secretpart" in message for message in warnings)


def test_live_keys_give_no_warning(make_app, production_settings, caplog):
    caplog.set_level(logging.WARNING, logger="app.settings")
    make_app(production_settings)
    assert not [record for record in caplog.records if record.name == "app.settings"]


@pytest.mark.parametrize("host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "shop.example.evil"])
def test_a_foreign_host_header_is_refused_and_writes_nothing(make_app, settings, host):
    app = make_app(settings.with_overrides(allowed_hosts=("localhost", "shop.example")))
    client = app.test_client()
    before = dump(app)
    assert client.get("/", headers={"Host": host}).status_code == 400
    assert client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": "1"},
                       headers={"Host": host}).status_code == 400
    assert client.get("/checkout", headers={"Host": host}).status_code == 400
    assert dump(app) == before
    assert client.get("/", headers={"Host": "shop.example"}).status_code == 200
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200


def test_a_forged_forwarded_host_behind_the_proxy_is_refused(make_app, production_settings):
    app = make_app(production_settings.with_overrides(trusted_proxies=1, allowed_hosts=("shop.example",)))
    client = app.test_client()
    forged = client.get("/", base_url="https://shop.example",
                        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"})
    assert forged.status_code == 400
    honest = client.get("/", base_url="https://shop.example",
                        headers={"X-Forwarded-Host": "shop.example", "X-Forwarded-Proto": "https"})
    assert honest.status_code == 200


def test_a_subdomain_entry_allows_its_subdomains_only(make_app, settings):
    client = make_app(settings.with_overrides(allowed_hosts=(".shop.example",))).test_client()
    assert client.get("/", headers={"Host": "www.shop.example"}).status_code == 200
    assert client.get("/", headers={"Host": "evilshop.example"}).status_code == 400
