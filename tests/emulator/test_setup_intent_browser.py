"""stripe.handleNextAction with a SetupIntent's client secret, as Stripe.js accepts it."""

import pytest

from test_stripejs import checkout_page, shop_page  # noqa: F401 (fixtures)


@pytest.mark.parametrize("button", ["Complete", "Fail"])
def test_handle_next_action_authenticates_a_setup_intent(checkout_page, client, button):  # noqa: F811
    page = checkout_page
    cus = client.v1.customers.create()
    si = client.v1.setup_intents.create(params={"customer": cus.id, "confirm": True,
                                                "payment_method": "pm_card_authenticationRequiredOnSetup"})
    assert si.next_action.type == "use_stripe_sdk"
    page.evaluate("s => { window.nextResult = null; window.emu.next(s).then(r => { window.nextResult = r; }); }",
                  si.client_secret)
    page.frame_locator('iframe[title="3D Secure challenge"]').get_by_role("button", name=button).click()
    page.wait_for_function("() => window.nextResult !== null")
    result = page.evaluate("window.nextResult")
    if button == "Complete":
        assert result["setupIntent"]["status"] == "succeeded"
        assert [p.id for p in client.v1.customers.payment_methods.list(cus.id).data] == [si.payment_method]
    else:
        assert result["error"]["code"] == "setup_intent_authentication_failure"
        assert result["error"]["setup_intent"]["status"] == "requires_payment_method"
        assert client.v1.customers.payment_methods.list(cus.id).data == []
