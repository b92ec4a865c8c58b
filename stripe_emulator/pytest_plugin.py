"""pytest fixtures for a running emulator: ``pytest -p stripe_emulator.pytest_plugin``.

* ``stripe_emulator``: one emulator per test session on free ports (``api_base``, ``secret_key``,
  ``publishable_key``, ``control``, ``faults``), configured by ``stripe_emulator_options``;
* ``stripe_client``: a ``stripe.StripeClient`` pointed at it;
* ``emulator_faults``: inject faults and outages; all are cleared after the test;
* ``webhook_collector``: a local webhook endpoint that keeps verified events; ``wait_for(type)``.

See docs/emulator.md, "Using it from another project's tests".
"""

import pytest

from stripe_emulator.embedded import EmbeddedEmulator
from stripe_emulator.webhook_collector import WebhookCollector


def pytest_configure(config):
    # the emulator runs in the test process: its aiohttp style notes are not the project's warnings
    config.addinivalue_line("filterwarnings", "ignore::aiohttp.web_exceptions.NotAppKeyWarning")


@pytest.fixture(scope="session")
def stripe_emulator_options():
    """Override in a conftest.py to configure the emulator: any ``stripe_emulator.core.Config`` field,
    e.g. ``{"secret_key": "sk_test_mine", "retry_compression": 10000}``."""
    return {}


@pytest.fixture(scope="session")
def stripe_emulator(stripe_emulator_options):
    with EmbeddedEmulator(**stripe_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def stripe_client(stripe_emulator):
    import stripe  # only this fixture needs stripe-python

    return stripe.StripeClient(stripe_emulator.secret_key, base_addresses={"api": stripe_emulator.api_base},
                               max_network_retries=0)


@pytest.fixture
def emulator_faults(stripe_emulator):
    yield stripe_emulator.faults
    stripe_emulator.faults.clear()


@pytest.fixture
def webhook_collector(stripe_emulator):
    collector = WebhookCollector()
    collector.register(stripe_emulator.api_base, stripe_emulator.secret_key)
    yield collector
    collector.unregister()
    collector.close()
