"""Radar's risk test cards: elevated risk is charged with outcome.risk_level "elevated"; highest risk is blocked."""

import pytest

from test_cards import _confirm, browser_token


@pytest.mark.parametrize("via", ["card_number", "pm_alias"])
def test_elevated_risk_is_charged_and_says_so(emu, client, via):
    source = ({"confirmation_token": browser_token(emu, "4000000000009235")} if via == "card_number"
              else {"payment_method": "pm_card_riskLevelElevated"})
    pi, err = _confirm(client, **source)
    assert err is None and pi.status == "succeeded"
    outcome = client.v1.charges.retrieve(pi.latest_charge).outcome
    assert (outcome.type, outcome.risk_level, outcome.network_status) == ("authorized", "elevated",
                                                                          "approved_by_network")
    assert 65 <= outcome.risk_score < 75


@pytest.mark.parametrize("via", ["card_number", "pm_alias"])
def test_highest_risk_is_blocked(emu, client, via):
    source = ({"confirmation_token": browser_token(emu, "4000000000004954")} if via == "card_number"
              else {"payment_method": "pm_card_riskLevelHighest"})
    pi, err = _confirm(client, **source)
    assert err is not None and err.http_status == 402
    assert (err.code, err.error.decline_code) == ("card_declined", "fraudulent")
    assert pi.status == "requires_payment_method"
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.status == "failed"
    assert (charge.outcome.type, charge.outcome.risk_level, charge.outcome.reason) == (
        "blocked", "highest", "highest_risk_level")


def test_plain_cards_stay_normal_risk(client):
    pi, _ = _confirm(client, payment_method="pm_card_visa")
    assert client.v1.charges.retrieve(pi.latest_charge).outcome.risk_level == "normal"
