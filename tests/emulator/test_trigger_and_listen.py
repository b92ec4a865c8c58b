"""``stripe-emulator trigger`` and ``listen --forward-to``, run as commands against a real emulator."""

import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
import stripe

from emu_helpers import ROOT, SECRET_KEY, WebhookReceiver
from stripe_emulator.trigger import FIXTURES


def command(*args, **kw):
    return subprocess.run([sys.executable, "-m", "stripe_emulator", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, **kw)


def events_of_type(emu, event_type, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        found = requests.get(emu.api + "/v1/events", params={"type": event_type}, auth=(SECRET_KEY, ""),
                             timeout=5).json()["data"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("event_type", sorted(FIXTURES))
def test_trigger_produces_the_event(emu, event_type):
    done = command("trigger", event_type, "--api-base", emu.api)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("Trigger succeeded!")
    assert "Running fixture for: payment_intent" in done.stdout
    assert len(events_of_type(emu, event_type)) == 1


def test_trigger_of_an_unknown_event_says_which_are_supported(emu):
    done = command("trigger", "customer.created", "--api-base", emu.api)

    assert done.returncode == 1
    assert "event customer.created is not supported" in done.stderr and "payment_intent.succeeded" in done.stderr


def test_trigger_override_changes_a_parameter(emu):
    done = command("trigger", "payment_intent.created", "--api-base", emu.api,
                   "--override", "payment_intent:amount=5000", "--override", "payment_intent:metadata.order=7")

    assert done.returncode == 0, done.stderr
    intent = events_of_type(emu, "payment_intent.created")[0]["data"]["object"]
    assert intent["amount"] == 5000 and intent["metadata"] == {"order": "7"}


class Listen:
    def __init__(self, emu, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "stripe_emulator", "listen", "--api-base", emu.api,
                                      *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def line(self, timeout=20.0):
        return self.lines.get(timeout=timeout).rstrip("\n")

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(10)


def test_listen_forwards_chosen_events_signed_with_the_secret_it_prints(emu):
    app = WebhookReceiver()
    listener = Listen(emu, "--forward-to", app.url, "--events", "payment_intent.succeeded,charge.succeeded")
    try:
        ready = listener.line()
        secret = re.fullmatch(r"> Ready! You are using Stripe API Version \[.+\]\. "
                              r"Your webhook signing secret is (whsec_\w+) \(\^C to quit\)", ready).group(1)

        assert command("trigger", "payment_intent.succeeded", "--api-base", emu.api).returncode == 0
        forwarded = app.wait_for(lambda e: e["type"] == "payment_intent.succeeded")[0]
        app.wait_for(lambda e: e["type"] == "charge.succeeded")
        lines = [listener.line() for _ in range(4)]

        delivery = next(r for r in app.received if forwarded["id"] in r["body"])
        assert stripe.Webhook.construct_event(delivery["body"], delivery["signature"], secret).id == forwarded["id"]
        assert f"--> payment_intent.succeeded [{forwarded['id']}]" in "\n".join(lines)
        assert f"<--  [200] POST {app.url} [{forwarded['id']}]" in "\n".join(lines)
        assert "payment_intent.created" not in {e["type"] for e in app.events()}
    finally:
        assert listener.stop() == 0
        app.close()
    endpoints = requests.get(emu.api + "/v1/webhook_endpoints", auth=(SECRET_KEY, ""), timeout=5).json()["data"]
    assert all(we["description"] != "stripe-emulator listen" for we in endpoints)


def test_listen_shows_the_status_an_app_answers(emu):
    app = WebhookReceiver()
    app.status = 500
    listener = Listen(emu, "--forward-to", app.url, "--events", "payment_intent.created")
    try:
        listener.line()
        assert command("trigger", "payment_intent.created", "--api-base", emu.api).returncode == 0
        assert listener.line().endswith("]") and "[500] POST" in listener.line()
    finally:
        assert listener.stop() == 0
        app.close()
