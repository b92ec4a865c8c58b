"""Object shapes match Stripe's fixtures3.json; ids, expand, lists and the error envelope."""

import json
import time

import pytest
import requests
import stripe

from emu_helpers import ROOT, SECRET_KEY

FIXTURE_PATHS = [ROOT / "stripe_emulator" / "fixtures3.json", ROOT.parent / "shared" / "stripe" / "fixtures3.json"]


def _fixture_keys():
    sources = [json.loads(p.read_text())["resources"] for p in FIXTURE_PATHS if p.exists()]
    assert sources, "no fixtures3.json found"
    return sources


# Fields stripe-python 16's models have that the published fixtures predate.
NEWER_THAN_FIXTURE = {"confirmation_token": {"metadata"}}


def assert_shape(kind, obj):
    keys = set(obj.to_dict() if hasattr(obj, "to_dict") else obj) - NEWER_THAN_FIXTURE.get(kind, set())
    for resources in _fixture_keys():
        assert keys == set(resources[kind]), (
            f"{kind}: extra {sorted(keys - set(resources[kind]))}, missing {sorted(set(resources[kind]) - keys)}")


def _raw(emu, method, path, **kw):
    return requests.request(method, emu.api + path, auth=(SECRET_KEY, ""), timeout=5, **kw)


def test_every_object_has_stripes_top_level_fields(client, emu):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    assert_shape("confirmation_token", token)
    assert_shape("confirmation_token", client.v1.confirmation_tokens.retrieve(token.id))
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                  "confirmation_token": token.id})
    assert_shape("payment_intent", pi)
    assert_shape("payment_method", client.v1.payment_methods.retrieve(pi.payment_method))
    charge = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["refunds"]})
    assert_shape("charge", charge)  # since API version 2022-11-15 `refunds` is there only when expanded
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert_shape("refund", refund)
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]})
    assert endpoint.secret.startswith("whsec_")
    assert_shape("webhook_endpoint", client.v1.webhook_endpoints.retrieve(endpoint.id))
    event = client.v1.events.list(params={"limit": 1}).data[0]
    assert_shape("event", event)


def test_ids_and_common_fields(client):
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                  "payment_method": "pm_card_visa", "metadata": {"a": "b"}})
    assert pi.id.startswith("pi_") and pi.payment_method.startswith("pm_") and pi.latest_charge.startswith("ch_")
    assert pi.client_secret.startswith(pi.id + "_secret_")
    assert pi.livemode is False and abs(pi.created - time.time()) < 60
    assert pi.metadata.to_dict() == {"a": "b"}
    refund = client.v1.refunds.create(params={"charge": pi.latest_charge})
    assert refund.id.startswith("re_")
    assert client.v1.events.list().data[0].id.startswith("evt_")


def test_latest_charge_is_expandable(client):
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                  "payment_method": "pm_card_visa"})
    expanded = client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge", "payment_method"]})
    assert expanded.latest_charge.object == "charge" and expanded.latest_charge.id == pi.latest_charge
    assert expanded.latest_charge.paid is True and expanded.latest_charge.payment_intent == pi.id
    assert expanded.payment_method.object == "payment_method"


def test_list_pagination_newest_first(client):
    ids = [client.v1.payment_intents.create(params={"amount": 100 + i, "currency": "usd"}).id for i in range(5)]
    newest_first = ids[::-1]
    page1 = client.v1.payment_intents.list(params={"limit": 2})
    assert [p.id for p in page1.data] == newest_first[:2] and page1.has_more is True
    page2 = client.v1.payment_intents.list(params={"limit": 2, "starting_after": page1.data[-1].id})
    assert [p.id for p in page2.data] == newest_first[2:4] and page2.has_more is True
    page3 = client.v1.payment_intents.list(params={"limit": 2, "starting_after": page2.data[-1].id})
    assert [p.id for p in page3.data] == newest_first[4:] and page3.has_more is False
    back = client.v1.payment_intents.list(params={"limit": 2, "ending_before": newest_first[4]})
    assert [p.id for p in back.data] == newest_first[2:4] and back.has_more is True
    everything = [p.id for p in client.v1.payment_intents.list(params={"limit": 2}).auto_paging_iter()]
    assert everything == newest_first


def test_error_envelope_and_statuses(emu):
    resp = _raw(emu, "GET", "/v1/payment_intents/pi_missing")
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "resource_missing"
    assert err["message"] == "No such payment_intent: 'pi_missing'"
    assert err["param"] == "intent" and err["doc_url"].startswith("https://stripe.com/docs/error-codes/")
    assert err["request_log_url"].endswith(resp.headers["Request-Id"])
    resp = _raw(emu, "POST", "/v1/payment_intents", data={"amount": "1000", "currency": "usd", "confirm": "true",
                                                          "payment_method": "pm_card_visa_chargeDeclined"})
    assert resp.status_code == 402
    err = resp.json()["error"]
    assert {"type", "code", "decline_code", "message", "payment_intent", "doc_url", "request_log_url",
            "charge", "payment_method"} <= set(err)
    assert _raw(emu, "GET", "/v1/nothing_here").status_code == 404


def test_not_found_through_stripe_python(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.retrieve("pi_doesnotexist")
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
    for call in (lambda: client.v1.charges.retrieve("ch_x"), lambda: client.v1.refunds.retrieve("re_x"),
                 lambda: client.v1.events.retrieve("evt_x"), lambda: client.v1.webhook_endpoints.retrieve("we_x"),
                 lambda: client.v1.confirmation_tokens.retrieve("ctoken_x")):
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert info.value.http_status == 404


def test_failure_objects_keep_the_same_shape(client):
    with pytest.raises(stripe.CardError) as info:
        client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                 "payment_method": "pm_card_radarBlock"})
    pi = info.value.error.payment_intent
    assert_shape("payment_intent", client.v1.payment_intents.retrieve(pi.id))
    charge = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["refunds"]})
    assert_shape("charge", charge)  # since API version 2022-11-15 `refunds` is there only when expanded
    assert charge.outcome.type == "blocked" and charge.paid is False


def test_payment_methods_and_refund_updates_through_stripe_python(client):
    pm = client.v1.payment_methods.create(params={
        "type": "card", "card": {"number": "4000000000009995", "exp_month": 4, "exp_year": 2040, "cvc": "314"},
        "billing_details": {"name": "Jenny Rosen"}})
    assert_shape("payment_method", pm)
    assert pm.card.last4 == "9995" and pm.billing_details.name == "Jenny Rosen"
    with pytest.raises(stripe.CardError) as info:
        client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                 "payment_method": pm.id})
    assert info.value.error.decline_code == "insufficient_funds"
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                  "payment_method": "pm_card_visa"})
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 500})
    updated = client.v1.refunds.update(refund.id, params={"metadata": {"reason": "damaged"}})
    assert updated.metadata.to_dict() == {"reason": "damaged"}
    assert [r.id for r in client.v1.refunds.list(params={"charge": pi.latest_charge}).data] == [refund.id]
