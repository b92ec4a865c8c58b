"""The pytest plugin, as another project uses it: a test file run by pytest in a subprocess with
``-p stripe_emulator.pytest_plugin``."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "stripe_emulator" / "examples" / "test_with_emulator.py"

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester, monkeypatch):
    # the subprocess imports this tree's stripe_emulator, whatever is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    pytester.makeini("[pytest]\nfilterwarnings = error\n")  # as strict as a careful project
    return pytester


def test_the_documented_example_passes(project):
    project.makepyfile(test_example=EXAMPLE.read_text())

    result = project.runpytest_subprocess("-p", "stripe_emulator.pytest_plugin", timeout=120)

    result.assert_outcomes(passed=3)


def test_fixtures_give_a_working_emulator_faults_and_webhooks(project):
    project.makepyfile(test_fixtures="""
        import stripe
        import pytest


        def test_faults_are_cleared_after_each_test_part_one(stripe_client, emulator_faults):
            emulator_faults.inject("GET /v1/events", status=500)
            with pytest.raises(stripe.APIError):
                stripe_client.v1.events.list()


        def test_faults_are_cleared_after_each_test_part_two(stripe_client):
            assert stripe_client.v1.events.list().object == "list"


        def test_outage_and_recovery(stripe_client, emulator_faults):
            emulator_faults.outage()
            with pytest.raises(stripe.APIConnectionError):
                stripe_client.v1.events.list()
            emulator_faults.outage(False)
            assert stripe_client.v1.events.list().object == "list"


        def test_collector_keeps_only_verified_events_and_waits_for_a_condition(stripe_emulator, stripe_client,
                                                                                webhook_collector):
            import urllib.request
            forged = urllib.request.Request(webhook_collector.url, data=b'{"type": "x"}', method="POST",
                                            headers={"Stripe-Signature": "t=1,v1=00"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(forged, timeout=5)
            assert refused.value.code == 400 and webhook_collector.rejected == 1

            intent = stripe_client.v1.payment_intents.create(params={"amount": 700, "currency": "eur"})
            stripe_client.v1.payment_intents.cancel(intent.id)
            canceled = webhook_collector.wait_for(predicate=lambda e: e["data"]["object"]["status"] == "canceled")
            assert canceled["type"] == "payment_intent.canceled"
            assert [e["type"] for e in webhook_collector.events] == ["payment_intent.created",
                                                                     "payment_intent.canceled"]
            with pytest.raises(AssertionError, match="no matching webhook event"):
                webhook_collector.wait_for("charge.refunded", timeout=0.2)
            # an attempt is recorded once the collector's answer is back, just after the collector saw it
            import time
            deadline = time.time() + 10
            while not stripe_emulator.control.webhook_attempts(event=canceled["id"]) and time.time() < deadline:
                time.sleep(0.02)
            attempts = stripe_emulator.control.webhook_attempts(event=canceled["id"])
            assert [a["status"] for a in attempts] == [200]
    """)

    result = project.runpytest_subprocess("-p", "stripe_emulator.pytest_plugin", timeout=120)

    result.assert_outcomes(passed=4)


def test_a_project_configures_the_emulator_through_an_options_fixture(project):
    project.makeconftest("""
        import pytest


        @pytest.fixture(scope="session")
        def stripe_emulator_options():
            return {"secret_key": "sk_test_other_project", "publishable_key": "pk_test_other_project"}
    """)
    project.makepyfile(test_options="""
        import urllib.error
        import urllib.request

        import pytest


        def test_the_client_uses_the_configured_key(stripe_emulator, stripe_client):
            assert stripe_emulator.publishable_key == "pk_test_other_project"
            assert stripe_client.v1.events.list().object == "list"
            default_key = urllib.request.Request(stripe_emulator.api_base + "/v1/events",
                                                 headers={"Authorization": "Bearer sk_test_emulator"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(default_key, timeout=5)
            assert refused.value.code == 401
    """)

    result = project.runpytest_subprocess("-p", "stripe_emulator.pytest_plugin", timeout=120)

    result.assert_outcomes(passed=1)
