"""Fault injection through the control API, counted through /_emulator/requests."""

import time

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY, Emulator

PI = {"amount": "1000", "currency": "usd"}


def create(emu, timeout=5, **headers):
    return requests.post(emu.api + "/v1/payment_intents", data=PI, auth=(SECRET_KEY, ""), headers=headers,
                         timeout=timeout)


def add_fault(emu, **spec):
    return emu.ctl("POST", "/_emulator/faults", spec)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_uses_api_error_envelope(emu, status):
    add_fault(emu, route="POST /v1/payment_intents", status=status, should_retry=True)
    resp = create(emu)
    assert resp.status_code == status
    assert resp.json()["error"]["type"] == "api_error"
    assert resp.headers["Stripe-Should-Retry"] == "true"
    assert emu.ctl("GET", "/_emulator/stats")["payment_intents"]["live"] == 0


def test_rate_limit_and_lock_timeout(emu):
    add_fault(emu, route="*", rate_limit=True, should_retry=False, count=1)
    resp = create(emu)
    assert resp.status_code == 429
    assert resp.json()["error"]["type"] == "rate_limit_error" and resp.json()["error"]["code"] == "rate_limit"
    assert resp.headers["Stripe-Should-Retry"] == "false"
    add_fault(emu, route="POST /v1/payment_intents", lock_timeout=True, count=1)
    resp = create(emu)
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "lock_timeout"
    assert "Stripe-Should-Retry" not in resp.headers
    assert create(emu).status_code == 200


def test_count_and_route_matching(emu):
    add_fault(emu, route="POST /v1/payment_intents/*/cancel", status=503, count=2)
    pi = create(emu).json()
    cancel = emu.api + f"/v1/payment_intents/{pi['id']}/cancel"
    codes = [requests.post(cancel, auth=(SECRET_KEY, ""), timeout=5).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert [e["status"] for e in emu.requests_log(f"/v1/payment_intents/{pi['id']}/cancel")] == [503, 503, 200]


def test_rate_is_deterministic_with_seed(emu):
    def run():
        emu.ctl("DELETE", "/_emulator/faults")
        emu.ctl("POST", "/_emulator/seed", {"seed": 7})
        add_fault(emu, route="POST /v1/payment_intents", status=500, rate=0.5)
        return [create(emu).status_code for _ in range(20)]
    first, second = run(), run()
    assert first == second
    assert 0 < first.count(500) < 20


def test_latency(emu):
    add_fault(emu, route="*", latency_ms=300, count=1)
    started = time.monotonic()
    assert create(emu).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_hang_until_client_gives_up(emu):
    add_fault(emu, route="POST /v1/payment_intents", hang=True, count=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        create(emu, timeout=0.5)
    assert create(emu).status_code == 200


def test_drop_closes_the_connection(emu):
    add_fault(emu, route="POST /v1/payment_intents", drop=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        create(emu)
    assert create(emu).status_code == 200
    statuses = [e["status"] for e in emu.requests_log("/v1/payment_intents")]
    # the dropped request never got a status; an HTTP client may resend a request whose connection was cut
    assert statuses[0] is None and statuses.count(200) == 1 and set(statuses) == {None, 200}


def test_list_and_delete_faults(emu):
    first = add_fault(emu, route="*", status=500)
    second = add_fault(emu, route="GET *", status=503)
    assert [f["id"] for f in emu.ctl("GET", "/_emulator/faults")["data"]] == [first["id"], second["id"]]
    emu.ctl("DELETE", f"/_emulator/faults/{first['id']}")
    assert [f["id"] for f in emu.ctl("GET", "/_emulator/faults")["data"]] == [second["id"]]
    assert create(emu).status_code == 200
    emu.ctl("DELETE", "/_emulator/faults")
    assert emu.ctl("GET", "/_emulator/faults")["data"] == []
    bad = requests.post(emu.control + "/_emulator/faults", json={"route": "*", "bogus": 1}, timeout=5)
    assert bad.status_code == 400


def test_the_control_api_is_only_on_its_own_port_and_without_cors(emu):
    for method, path in (("POST", "/_emulator/faults"), ("GET", "/_emulator/webhook_secret"),
                         ("POST", "/_emulator/outage")):
        resp = requests.request(method, emu.api + path, json={"route": "*", "status": 500}, timeout=5)
        assert resp.status_code == 404, (path, resp.status_code)
    assert create(emu).status_code == 200  # nothing was injected through the API port
    control = requests.get(emu.control + "/_emulator/faults", headers={"Origin": "http://evil.example"}, timeout=5)
    assert control.status_code == 200 and "Access-Control-Allow-Origin" not in control.headers
    api = requests.get(emu.api + "/v3/", headers={"Origin": "http://shop.example"}, timeout=5)
    assert api.headers["Access-Control-Allow-Origin"] == "*"  # Stripe.js's own requests still work


def test_stripe_python_retries_are_visible_in_the_request_log(emu):
    add_fault(emu, route="POST /v1/payment_intents", status=503, should_retry=True, count=2)
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emu.api}, max_network_retries=3)
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    log = emu.requests_log("/v1/payment_intents")
    assert [e["status"] for e in log] == [503, 503, 200]
    assert len({e["idempotency_key"] for e in log}) == 1
    assert pi.status == "requires_payment_method"


def test_outage_refuses_connections_while_control_stays_up(emu):
    emu.ctl("POST", "/_emulator/outage", {"down": True})
    with pytest.raises(requests.exceptions.ConnectionError):
        create(emu)
    assert emu.ctl("GET", "/_emulator/health")["api_down"] is True
    emu.ctl("POST", "/_emulator/outage", {"down": False})
    assert create(emu).status_code == 200


def test_cli_fault_flag():
    emu = Emulator("--fault", "POST /v1/payment_intents:status=503,count=1")
    try:
        assert create(emu).status_code == 503
        assert create(emu).status_code == 200
    finally:
        assert emu.stop() == 0


def test_reset_clears_state_faults_and_log(emu):
    create(emu)
    add_fault(emu, route="*", status=500)
    emu.ctl("POST", "/_emulator/reset")
    assert emu.ctl("GET", "/_emulator/faults")["data"] == []
    assert emu.requests_log() == []
    assert emu.ctl("GET", "/_emulator/stats")["payment_intents"]["live"] == 0


def test_a_fault_can_target_the_server_or_the_browser_alone(emu):
    intent = create(emu).json()
    secret = intent["client_secret"]
    url = f"{emu.api}/v1/payment_intents/{intent['id']}"
    add_fault(emu, route="GET /v1/payment_intents/*", status=500, caller="server")
    browser = requests.get(url, params={"key": PUBLISHABLE_KEY, "client_secret": secret}, timeout=5)
    server = requests.get(url, auth=(SECRET_KEY, ""), timeout=5)
    assert (browser.status_code, server.status_code) == (200, 500)
    emu.ctl("DELETE", "/_emulator/faults")
    add_fault(emu, route="GET /v1/payment_intents/*", status=500, caller="browser")
    browser = requests.get(url, params={"key": PUBLISHABLE_KEY, "client_secret": secret}, timeout=5)
    server = requests.get(url, auth=(SECRET_KEY, ""), timeout=5)
    assert (browser.status_code, server.status_code) == (500, 200)
    with pytest.raises(requests.HTTPError):
        emu.ctl("POST", "/_emulator/faults", {"route": "*", "status": 500, "caller": "everyone"})
