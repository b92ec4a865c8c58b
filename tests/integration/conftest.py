"""Integration fixtures: the real emulator over HTTP, and an app pointed at it with short timeouts."""
from __future__ import annotations

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.shopper import Checkout
from tests.support.smtp_server import RecordingServer


@pytest.fixture(scope="session")
def emulator_server():
    emulator = EmulatorProcess()
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_server):
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def stripe_settings(settings, emulator):
    return settings.with_overrides(stripe_api_base=emulator.api, stripe_js_url=f"{emulator.api}/v3/",
                                   stripe_connect_timeout=0.5, stripe_read_timeout=1.0, checkout_deadline=4.0,
                                   breaker_fail_max=3, breaker_reset_timeout=1.0)


@pytest.fixture
def stripe_app(make_app, stripe_settings):
    return make_app(stripe_settings)


@pytest.fixture
def checkout(stripe_app, emulator):
    return lambda **kw: Checkout(stripe_app, emulator, **kw)


@pytest.fixture
def smtp_servers():
    """Start a real SMTP server (`smtp_servers(**aiosmtpd_options)`); each is stopped after the test."""
    started = []

    def start(**options) -> RecordingServer:
        started.append(RecordingServer(**options))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def mail_server(smtp_servers):
    return smtp_servers()
