"""Customers and saved cards through stripe-python: CRUD, search, attach/detach/list/update, paying with them."""

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY
from test_objects import assert_shape


def test_customer_create_retrieve_update_list_delete(client):
    cus = client.v1.customers.create(params={"email": "ada@example.com", "name": "Ada", "metadata": {"shop": "7"},
                                             "address": {"postal_code": "12345"}})
    assert cus.id.startswith("cus_") and cus.email == "ada@example.com" and cus.address.postal_code == "12345"
    assert_shape("customer", cus)
    assert client.v1.customers.retrieve(cus.id).name == "Ada"
    updated = client.v1.customers.update(cus.id, params={"name": "Ada L", "metadata": {"shop": ""}})
    assert updated.name == "Ada L" and updated.metadata.to_dict() == {}
    other = client.v1.customers.create(params={"email": "bob@example.com"})
    assert [c.id for c in client.v1.customers.list().data] == [other.id, cus.id]
    assert [c.id for c in client.v1.customers.list(params={"email": "ada@example.com"}).data] == [cus.id]
    deleted = client.v1.customers.delete(cus.id)
    assert deleted.deleted is True and deleted.id == cus.id
    assert client.v1.customers.retrieve(cus.id).deleted is True
    assert [c.id for c in client.v1.customers.list().data] == [other.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.update(cus.id, params={"name": "x"})
    assert info.value.http_status == 404 and info.value.code == "resource_missing"
    types = [e.type for e in client.v1.events.list(params={"limit": 100}).data]
    assert types == ["customer.deleted", "customer.created", "customer.updated", "customer.created"]


def test_customer_search(client):
    ada = client.v1.customers.create(params={"email": "Ada@example.com", "name": "Ada", "metadata": {"tier": "gold"}})
    bob = client.v1.customers.create(params={"email": "bob@example.com", "name": "Bob", "metadata": {"tier": "gold"}})
    client.v1.customers.create(params={"email": "cy@example.com", "name": "Cy"})

    def ids(query, **extra):
        return [c.id for c in client.v1.customers.search(params={"query": query, **extra}).data]
    assert ids("email:'ada@example.com'") == [ada.id]
    assert ids("metadata['tier']:'gold'") == [bob.id, ada.id]
    assert ids("metadata['tier']:'gold' AND name:'Bob'") == [bob.id]
    assert ids('name:"Ada" OR name:"Bob"') == [bob.id, ada.id]
    first = client.v1.customers.search(params={"query": "metadata['tier']:'gold'", "limit": 1})
    assert first.has_more is True and first.next_page
    assert [c.id for c in first.auto_paging_iter()] == [bob.id, ada.id]
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.customers.search(params={"query": "email:'a' AND name:'b' OR name:'c'"})
    assert info.value.param == "query"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search(params={"query": "nonsense"})


def test_attach_list_update_detach(client):
    cus = client.v1.customers.create(params={"email": "ada@example.com"})
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"number": "4242424242424242",
                                                                          "exp_month": 12, "exp_year": 2040}})
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_methods.update(pm.id, params={"metadata": {"a": "b"}})
    assert "save this PaymentMethod to a customer" in info.value.user_message
    attached = client.v1.payment_methods.attach(pm.id, params={"customer": cus.id})
    assert attached.customer == cus.id
    assert [p.id for p in client.v1.customers.payment_methods.list(cus.id).data] == [pm.id]
    assert [p.id for p in client.v1.payment_methods.list(params={"customer": cus.id, "type": "card"}).data] == [pm.id]
    assert client.v1.customers.payment_methods.retrieve(cus.id, pm.id).id == pm.id
    other = client.v1.customers.create()
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_methods.attach(pm.id, params={"customer": other.id})
    assert "already been attached" in info.value.user_message
    updated = client.v1.payment_methods.update(pm.id, params={"card": {"exp_month": 3, "exp_year": 2041},
                                                              "billing_details": {"name": "Ada L"},
                                                              "metadata": {"label": "work"}})
    assert (updated.card.exp_month, updated.card.exp_year) == (3, 2041)
    assert updated.billing_details.name == "Ada L" and updated.metadata.label == "work"
    client.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": pm.id}})
    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    assert client.v1.customers.payment_methods.list(cus.id).data == []
    assert client.v1.customers.retrieve(cus.id).invoice_settings.default_payment_method is None
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_methods.detach(pm.id)
    assert "not attached to a customer" in info.value.user_message
    types = {e.type for e in client.v1.events.list(params={"limit": 100}).data}
    assert {"payment_method.attached", "payment_method.updated", "payment_method.detached"} <= types


def test_payment_intent_customer_must_exist(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "customer": "cus_missing"})
    assert info.value.http_status == 404 and info.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "setup_future_usage": "later"})
    assert info.value.param == "setup_future_usage"


def test_setup_future_usage_saves_the_card_and_pays_again_off_session(client):
    cus = client.v1.customers.create(params={"email": "ada@example.com"})
    first = client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "customer": cus.id, "setup_future_usage": "off_session",
        "confirm": True, "payment_method": "pm_card_visa"})
    assert first.status == "succeeded" and first.customer == cus.id and first.setup_future_usage == "off_session"
    saved = client.v1.customers.payment_methods.list(cus.id).data
    assert [p.id for p in saved] == [first.payment_method]
    again = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "customer": cus.id,
                                                     "payment_method": saved[0].id, "off_session": True,
                                                     "confirm": True})
    assert again.status == "succeeded"
    assert client.v1.charges.retrieve(again.latest_charge).customer == cus.id
    assert [p.id for p in client.v1.payment_intents.list(params={"customer": cus.id}).data] == [again.id, first.id]
    # a saved card pays only with its own customer
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "payment_method": saved[0].id,
                                                 "confirm": True})
    assert info.value.param == "payment_method"


def test_a_3ds_payment_saves_the_card_only_once_authenticated(client, emu):
    cus = client.v1.customers.create()
    pi = client.v1.payment_intents.create(params={
        "amount": 2000, "currency": "usd", "customer": cus.id, "setup_future_usage": "off_session",
        "confirm": True, "payment_method": "pm_card_authenticationRequiredOnSetup"})
    assert pi.status == "requires_action"
    assert client.v1.customers.payment_methods.list(cus.id).data == []
    resp = requests.post(f"{emu.api}/v1/three_d_secure/{pi.id}/challenge", auth=(PUBLISHABLE_KEY, ""),
                         data={"client_secret": pi.client_secret, "result": "complete"}, timeout=5)
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    assert [p.id for p in client.v1.customers.payment_methods.list(cus.id).data] == [pi.payment_method]
    # Stripe's 4000002500003155: once set up, an off-session payment needs no authentication
    later = client.v1.payment_intents.create(params={"amount": 900, "currency": "usd", "customer": cus.id,
                                                     "payment_method": pi.payment_method, "off_session": True,
                                                     "confirm": True})
    assert later.status == "succeeded"


def test_a_payment_whose_customer_was_deleted_still_succeeds_without_saving(client):
    cus = client.v1.customers.create()
    pi = client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", "customer": cus.id,
                                                  "setup_future_usage": "off_session"})
    client.v1.customers.delete(cus.id)
    done = client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert done.status == "succeeded"
    assert client.v1.payment_methods.retrieve(done.payment_method).customer is None
