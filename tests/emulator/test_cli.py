"""Command line: banner, environment variables, clean shutdown, webhook timeout flag, the endpoint's event types."""

import json
import os
import signal
import subprocess
import sys
import time

import requests

from emu_helpers import ROOT, SECRET_KEY, WEBHOOK_SECRET, Emulator, WebhookReceiver, free_port


def test_sigint_shuts_down_cleanly():
    emu = Emulator()
    emu.process.send_signal(signal.SIGINT)
    assert emu.process.wait(10) == 0


def test_environment_variables_and_console_script():
    port, control = free_port(), free_port()
    script = os.path.join(os.path.dirname(sys.executable), "stripe-emulator")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "stripe_emulator"]
    env = dict(os.environ, EMULATOR_PORT=str(port), EMULATOR_CONTROL_PORT=str(control),
               EMULATOR_SECRET_KEY="sk_test_from_env")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == (f"stripe-emulator listening on http://127.0.0.1:{port} "
                                f"(control http://127.0.0.1:{control})")
        ok = requests.get(f"http://127.0.0.1:{port}/v1/events", auth=("sk_test_from_env", ""), timeout=5)
        assert ok.status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/v1/events", auth=(SECRET_KEY, ""), timeout=5).status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_webhook_timeout_is_a_failed_attempt():
    receiver = WebhookReceiver()
    receiver.delay = 0.6
    emu = Emulator("--webhook-timeout", "0.2", "--retry-compression", "100000", webhook_url=receiver.url)
    try:
        requests.post(emu.api + "/v1/payment_intents", data={"amount": "1000", "currency": "usd"},
                      auth=(SECRET_KEY, ""), timeout=5)
        deadline = time.time() + 10
        attempts = []
        while time.time() < deadline and len(attempts) < 2:
            attempts = emu.ctl("GET", "/_emulator/webhook_attempts")["data"]
            time.sleep(0.05)
        assert attempts[0]["error"] == "timeout" and attempts[0]["status"] is None
        assert attempts[1]["attempt"] == 2
        assert receiver.received[0]["signature"].startswith("t=")
        assert WEBHOOK_SECRET == emu.ctl("GET", "/_emulator/webhook_secret")["secret"]
    finally:
        assert emu.stop() == 0
        receiver.close()


def test_webhook_events_limits_what_the_endpoint_is_sent():
    receiver, everything = WebhookReceiver(), WebhookReceiver()
    emu = Emulator("--webhook-events", "payment_intent.succeeded,charge.refunded", webhook_url=receiver.url)
    try:
        # a second endpoint for every type: its deliveries of the same events start at the same moment
        requests.post(emu.api + "/v1/webhook_endpoints", auth=(SECRET_KEY, ""), timeout=5,
                      data={"url": everything.url, "enabled_events[]": "*"}).raise_for_status()
        created = requests.post(emu.api + "/v1/payment_intents", auth=(SECRET_KEY, ""), timeout=5, data={
            "amount": "1000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"}).json()
        assert created["status"] == "succeeded"

        def delivered(to):
            return sorted(json.loads(hit["body"])["type"] for hit in to.received)

        deadline = time.time() + 10
        while time.time() < deadline and not (len(delivered(everything)) >= 3 and receiver.received):
            time.sleep(0.05)
        assert {"payment_intent.created", "payment_intent.succeeded", "charge.succeeded"} <= set(delivered(everything))
        assert delivered(receiver) == ["payment_intent.succeeded"]
    finally:
        assert emu.stop() == 0
        receiver.close()
        everything.close()


def test_an_unknown_webhook_event_type_is_refused_at_start():
    proc = subprocess.run([sys.executable, "-m", "stripe_emulator", "--port", str(free_port()), "--control-port",
                           str(free_port()), "--webhook-events", "payment_intent.succeded"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "not an event type: payment_intent.succeded" in proc.stderr
