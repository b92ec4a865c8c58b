"""Nested and list ``expand[]``, refunds only when expanded, the Search API and ``Stripe-Version``,
through stripe-python."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY
from stripe_emulator import API_VERSION

PAID = {"amount": 1000, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa"}


def _pay(client, **extra):
    return client.v1.payment_intents.create(params=dict(PAID, **extra))


def test_nested_expansion_reaches_the_balance_transaction(client):
    pi = _pay(client)
    got = client.v1.payment_intents.retrieve(pi.id, params={"expand": ["latest_charge.balance_transaction"]})
    txn = got.latest_charge.balance_transaction
    assert txn.object == "balance_transaction" and txn.source == pi.latest_charge
    assert (txn.amount, txn.fee, txn.net) == (1000, 59, 941) and txn.type == "charge"
    charge = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["balance_transaction",
                                                                             "payment_intent.payment_method"]})
    assert charge.balance_transaction.id == txn.id
    assert charge.payment_intent.payment_method.object == "payment_method"
    assert isinstance(client.v1.charges.retrieve(pi.latest_charge).balance_transaction, str)  # stored: an id


def test_list_expansion(client):
    ids = [_pay(client).id for _ in range(2)]
    page = client.v1.payment_intents.list(params={"expand": ["data.latest_charge"]})
    assert [p.id for p in page.data] == ids[::-1]
    assert all(p.latest_charge.object == "charge" and p.latest_charge.payment_intent == p.id for p in page.data)
    refunds = client.v1.refunds.list(params={"expand": ["data.charge"]}).data
    assert refunds == []
    client.v1.refunds.create(params={"payment_intent": ids[0]})
    listed = client.v1.charges.list(params={"expand": ["data.refunds", "data.payment_intent"]}).data
    assert [len(c.refunds.data) for c in listed] == [0, 1] and listed[0].payment_intent.object == "payment_intent"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.list(params={"expand": ["latest_charge"]})
    assert "cannot be expanded (latest_charge)" in info.value.user_message
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.retrieve(ids[0], params={"expand": ["latest_charge.nope"]})
    assert "latest_charge.nope" in info.value.user_message


def test_charge_refunds_only_when_expanded(client):
    pi = _pay(client)
    first = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 300})
    second = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 200})
    plain = client.v1.charges.retrieve(pi.latest_charge)
    assert "refunds" not in plain and plain.amount_refunded == 500
    expanded = client.v1.charges.retrieve(pi.latest_charge, params={"expand": ["refunds"]})
    assert expanded.refunds.object == "list" and "total_count" not in expanded.refunds
    assert [r.id for r in expanded.refunds.data] == [second.id, first.id]
    assert expanded.refunds.url == f"/v1/charges/{pi.latest_charge}/refunds"
    event = client.v1.events.list(params={"type": "charge.refunded", "limit": 1}).data[0]
    assert "refunds" not in event.data.object
    refund_txn = client.v1.refunds.retrieve(first.id, params={"expand": ["balance_transaction"]})
    assert (refund_txn.balance_transaction.amount, refund_txn.balance_transaction.type) == (-300, "refund")


def test_search_payment_intents(client):
    a = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd",
                                                 "metadata": {"order_id": "A-1"}})
    b = _pay(client, amount=2500, metadata={"order_id": "B-2"})
    c = _pay(client, amount=700, currency="eur")
    search = client.v1.payment_intents.search

    def ids(query, **extra):
        return [p.id for p in search(params=dict(query=query, **extra)).data]
    assert ids('status:"succeeded"') == [c.id, b.id]
    assert ids("metadata['order_id']:'A-1'") == [a.id]
    assert ids('metadata["order_id"]:"B-2" AND status:"succeeded"') == [b.id]
    assert ids('metadata["order_id"]:"A-1" OR currency:"eur"') == [c.id, a.id]
    assert ids("amount>=1000 amount<2500") == [a.id]
    assert ids('-status:"succeeded"') == [a.id]
    assert ids(f"created>={a.created - 1}") == [c.id, b.id, a.id]
    assert ids('customer:null status:"requires_payment_method"') == [a.id]
    assert ids('metadata["order_id"]~"b-2"') == [b.id]  # substring, case-insensitive
    first = search(params={"query": "amount>0", "limit": 2})
    assert first.object == "search_result" and first.has_more is True and len(first.data) == 2
    rest = search(params={"query": "amount>0", "limit": 2, "page": first.next_page})
    assert [p.id for p in rest.data] == [a.id] and rest.has_more is False and rest.next_page is None
    assert [p.id for p in search(params={"query": "amount>0", "limit": 1}).auto_paging_iter()] == [c.id, b.id, a.id]
    counted = search(params={"query": "amount>0", "limit": 1, "expand": ["total_count", "data.latest_charge"]})
    assert counted.total_count == 3 and counted.data[0].latest_charge.object == "charge"


def test_search_charges(client):
    pi = _pay(client, metadata={"order_id": "C-3"})
    _pay(client, amount=5000)
    client.v1.refunds.create(params={"payment_intent": pi.id})
    found = client.v1.charges.search(params={"query": 'metadata["order_id"]:"C-3" AND refunded:"true"'}).data
    assert [ch.payment_intent for ch in found] == [pi.id]
    found = client.v1.charges.search(params={"query": f'payment_intent:"{pi.id}"'}).data
    assert [ch.id for ch in found] == [pi.latest_charge]
    assert len(client.v1.charges.search(params={"query": "amount:5000"}).data) == 1


@pytest.mark.parametrize("query", ['status:"a" AND amount>1 OR amount<5', "nonsense", 'colour:"red"',
                                   'status>"a"', 'metadata["k"]~"ab"', 'amount:"lots"', ""])
def test_bad_queries_are_refused(client, query):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.search(params={"query": query})
    assert info.value.http_status == 400 and info.value.param == "query"
    assert info.value.user_message.startswith(("Invalid search query", "Missing required param: query"))


def test_search_needs_the_secret_key(emu):
    resp = requests.get(f"{emu.api}/v1/payment_intents/search", params={"query": "amount>0"},
                        auth=(PUBLISHABLE_KEY, ""), timeout=5)
    assert resp.status_code == 401 and "publishable API key" in resp.json()["error"]["message"]


def test_unknown_routes_are_unrecognized(emu):
    for method, path in (("POST", "/v1/payment_intents/search"), ("GET", "/v1/payment_intents/search/x"),
                         ("GET", "/v1/nothing_here")):
        resp = requests.request(method, emu.api + path, auth=(SECRET_KEY, ""), timeout=5)
        assert resp.status_code == 404
        assert resp.json()["error"]["message"].startswith(f"Unrecognized request URL ({method}: {path})")


def test_stripe_version_is_echoed_and_checked(emu, client):
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    assert pi.last_response.headers["Stripe-Version"] == API_VERSION == stripe.api_version
    older = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emu.api}, stripe_version="2024-06-20",
                                max_network_retries=0)
    assert older.v1.payment_intents.retrieve(pi.id).last_response.headers["Stripe-Version"] == "2024-06-20"
    for bad in ("2099-01-01", "yesterday", "2024-13-45"):
        wrong = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emu.api}, stripe_version=bad,
                                    max_network_retries=0)
        with pytest.raises(stripe.InvalidRequestError) as info:
            wrong.v1.payment_intents.retrieve(pi.id)
        assert info.value.http_status == 400 and f"Invalid Stripe API version: {bad}" in info.value.user_message
    plain = requests.get(f"{emu.api}/v1/payment_intents/{pi.id}", auth=(SECRET_KEY, ""), timeout=5)
    assert plain.headers["Stripe-Version"] == API_VERSION  # no header: the pinned default
    missing = requests.get(f"{emu.api}/v1/payment_intents/pi_missing", auth=(SECRET_KEY, ""), timeout=5,
                           headers={"Stripe-Version": "2024-06-20"})
    assert missing.status_code == 404 and missing.headers["Stripe-Version"] == "2024-06-20"


def test_a_bad_expand_on_create_changes_nothing(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params=dict(PAID, expand=["latest_charge.nope"]))
    assert info.value.http_status == 400 and "latest_charge.nope" in info.value.user_message
    assert client.v1.payment_intents.list().data == [] and client.v1.charges.list().data == []
    pi = client.v1.payment_intents.create(params=dict(PAID, expand=["latest_charge.balance_transaction"]))
    assert pi.latest_charge.balance_transaction.object == "balance_transaction"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": pi.id, "expand": ["charge.refunds.data.nope"]})
    assert client.v1.refunds.list().data == []
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "expand": ["charge.refunds"]})
    assert [r.id for r in refund.charge.refunds.data] == [refund.id]


def test_webhook_endpoint_api_version_is_checked(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"],
                                                   "api_version": "2099-01-01"})
    assert info.value.param == "api_version"
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x", "enabled_events": ["*"],
                                                          "api_version": API_VERSION})
    assert endpoint.api_version == API_VERSION
