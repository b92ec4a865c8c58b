"""Kept for existing imports (`from helpers import ...`): the shared test code lives in tests/support."""
from tests.support import emulator as _emulator
from tests.support.browser import chromium_launch_args  # noqa: F401
from tests.support.emulator import EMULATOR_PUBLISHABLE_KEY, EMULATOR_SECRET_KEY, WEBHOOK_SECRET  # noqa: F401
from tests.support.events import event_payload, sign  # noqa: F401
from tests.support.net import ROOT, free_port, wait_for_http  # noqa: F401
from tests.support.production import METRICS_TOKEN, PRODUCTION_SECRET_KEY  # noqa: F401


def EmulatorProcess(webhook_url=None, webhook_secret=WEBHOOK_SECRET, *extra, nice=0):
    """The old positional signature of tests.support.emulator.EmulatorProcess."""
    return _emulator.EmulatorProcess(*extra, webhook_url=webhook_url, webhook_secret=webhook_secret, nice=nice)
