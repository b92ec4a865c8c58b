"""Unit tests start no Redis: an app built here is given an address nobody listens on, so a unit test that
reaches Redis fails at once (it belongs in tests/integration)."""
import pytest


@pytest.fixture(scope="session")
def redis_url():
    return "redis://127.0.0.1:9/0"


@pytest.fixture
def redis():
    yield None
