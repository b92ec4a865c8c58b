"""Fixtures: one emulator subprocess per session (reset before each test) and a webhook receiver."""

import pytest
import stripe

from emu_helpers import SECRET_KEY, Emulator, WebhookReceiver


@pytest.fixture(scope="session")
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def emulator_process(webhook_receiver):
    emu = Emulator("--retry-compression", "10000", "--webhook-timeout", "2", webhook_url=webhook_receiver.url)
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator_process, webhook_receiver):
    """The shared emulator, with state, faults and logs reset and no webhooks pending."""
    emulator_process.ctl("POST", "/_emulator/outage", {"down": False})
    emulator_process.ctl("POST", "/_emulator/reset")
    webhook_receiver.clear()
    return emulator_process


@pytest.fixture
def client(emu):
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": emu.api}, max_network_retries=0)
