"""Idempotency-Key: replay, parameter mismatch, in-flight conflicts, what is (not) stored, scoping."""

import threading
import time

import requests

from emu_helpers import SECRET_KEY

PI = {"amount": "1000", "currency": "usd", "confirm": "true", "payment_method": "pm_card_visa"}


def post(emu, path, data, key=None, auth=SECRET_KEY):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return requests.post(emu.api + path, data=data, headers=headers, auth=(auth, ""), timeout=10)


def test_success_is_replayed(emu):
    first = post(emu, "/v1/payment_intents", PI, key="k-success")
    second = post(emu, "/v1/payment_intents", PI, key="k-success")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert second.headers["Original-Request"] == first.headers["Request-Id"]
    assert emu.ctl("GET", "/_emulator/stats")["payment_intents"]["live"] == 1
    log = emu.requests_log("/v1/payment_intents")
    assert [entry["replayed"] for entry in log] == [False, True]


def test_card_error_is_replayed(emu):
    data = dict(PI, payment_method="pm_card_visa_chargeDeclined")
    first = post(emu, "/v1/payment_intents", data, key="k-decline")
    second = post(emu, "/v1/payment_intents", data, key="k-decline")
    assert first.status_code == second.status_code == 402
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"


def test_500_after_execution_is_replayed(emu):
    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "status": 500, "after": True,
                                          "count": 1})
    first = post(emu, "/v1/payment_intents", PI, key="k-500")
    second = post(emu, "/v1/payment_intents", PI, key="k-500")
    assert first.status_code == 500 and first.json()["error"]["type"] == "api_error"
    # The request had executed before the injected failure, so the retry replays the stored result.
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert emu.ctl("GET", "/_emulator/stats")["payment_intents"]["live"] == 1


def test_different_params_same_key(emu):
    post(emu, "/v1/payment_intents", PI, key="k-params")
    resp = post(emu, "/v1/payment_intents", dict(PI, amount="2000"), key="k-params")
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "idempotency_error"
    assert "k-params" in resp.json()["error"]["message"]


def test_in_flight_conflict(emu):
    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "latency_ms": 2000, "count": 1})
    results = {}
    slow = threading.Thread(
        target=lambda: results.setdefault("first", post(emu, "/v1/payment_intents", PI, key="k-fly")))
    slow.start()
    deadline = time.time() + 10
    while emu.ctl("GET", "/_emulator/stats")["idempotency_keys"] == 0 and time.time() < deadline:
        time.sleep(0.02)  # wait until the first request holds the key (it then runs for 2 s)
    second = post(emu, "/v1/payment_intents", PI, key="k-fly")
    slow.join()
    assert results["first"].status_code == 200
    assert second.status_code == 409
    assert second.json()["error"]["type"] == "idempotency_error"
    assert "in flight" in second.json()["error"]["message"]
    third = post(emu, "/v1/payment_intents", PI, key="k-fly")
    assert third.status_code == 200 and third.headers["Idempotent-Replayed"] == "true"


def test_validation_errors_401_and_429_are_not_stored(emu):
    bad = post(emu, "/v1/payment_intents", dict(PI, foo="bar"), key="k-validation")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "parameter_unknown"
    good = post(emu, "/v1/payment_intents", PI, key="k-validation")
    assert good.status_code == 200 and "Idempotent-Replayed" not in good.headers

    assert post(emu, "/v1/payment_intents", PI, key="k-401", auth="sk_test_wrong").status_code == 401
    assert post(emu, "/v1/payment_intents", PI, key="k-401").status_code == 200

    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "rate_limit": True, "count": 1})
    assert post(emu, "/v1/payment_intents", PI, key="k-429").status_code == 429
    retried = post(emu, "/v1/payment_intents", PI, key="k-429")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried.headers


def test_key_too_long(emu):
    resp = post(emu, "/v1/payment_intents", PI, key="x" * 256)
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    assert post(emu, "/v1/payment_intents", PI, key="x" * 255).status_code == 200


def test_keys_are_scoped_per_api_key_and_get_ignores_them(emu):
    first = post(emu, "/v1/payment_intents", PI, key="k-scope")
    pk_use = requests.post(emu.api + "/v1/confirmation_tokens", headers={
        "Idempotency-Key": "k-scope", "Authorization": "Bearer pk_test_emulator"},
        data={"payment_method": "pm_card_visa"}, timeout=5)
    assert pk_use.status_code == 200 and "Idempotent-Replayed" not in pk_use.headers
    got = requests.get(emu.api + "/v1/payment_intents/" + first.json()["id"], headers={"Idempotency-Key": "k-scope"},
                       auth=(SECRET_KEY, ""), timeout=5)
    assert got.status_code == 200 and "Idempotent-Replayed" not in got.headers


def test_an_unknown_route_with_a_key_answers_404_and_keeps_nothing(emu):
    for _ in range(2):
        resp = post(emu, "/v1/no_such_things", {"a": "1"}, key="k-unknown-route")
        assert resp.status_code == 404 and "Unrecognized request URL" in resp.json()["error"]["message"]
        assert "Idempotent-Replayed" not in resp.headers
    assert emu.ctl("GET", "/_emulator/stats")["idempotency_keys"] == 0
