"""A purchase paid from a US bank account: the Payment Element's bank tab, the order page saying the payment is
processing, then paid once the bank confirms (the emulator settles the debit on request), one email of each."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

import storefront as sf
from checkout_steps import FRAME

PROCESSING = "Payment processing — we'll email you when your bank confirms."


@pytest.fixture
def slow_bank(shop):
    """The bank answers only when the test says so."""
    shop.emulator.ctl("POST", "/_emulator/debits", {"settle_after": 600})
    yield
    shop.emulator.ctl("POST", "/_emulator/debits/settle")
    shop.emulator.ctl("POST", "/_emulator/debits", {"settle_after": 3})
    sf.reset_emulator(shop)


def _pay_from_bank(page, account: str) -> None:
    page.get_by_label("Email for your receipt").fill("shopper@example.com")
    frame = page.frame_locator(FRAME)
    frame.get_by_role("radio", name="US bank account").check()
    expect(frame.get_by_label("Card number")).to_be_hidden()
    frame.get_by_label("Full name").fill("Jenny Rosen")
    frame.get_by_label("Routing number").fill("110000000")
    frame.get_by_label("Account number").fill(account)
    page.locator("#pay-button").click()
    page.wait_for_url(sf.ORDER_URL)


def _emails(shop, public_id: str) -> list[str]:
    engine = create_engine(shop.database_url)
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(text(
                'SELECT kind FROM outbox_email JOIN "order" ON "order".id = outbox_email.order_id '
                'WHERE "order".public_id = :public_id'), {"public_id": public_id}).scalars())
    finally:
        engine.dispose()


def test_a_bank_debit_goes_from_processing_to_paid(shop, shop_page, slow_bank):
    page = shop_page
    sf.checkout(page, shop)
    _pay_from_bank(page, "000123456789")
    state = page.get_by_test_id("order-state")
    expect(state).to_have_text(PROCESSING, timeout=20000)
    expect(page.get_by_test_id("payment-state")).to_have_text("Processing with your bank")
    public_id = page.url.rsplit("/", 1)[-1]
    page.reload()  # the server says the same, not only the page's poll
    expect(state).to_have_text(PROCESSING)
    assert shop.emulator.ctl("POST", "/_emulator/debits/settle")["settled"]
    expect(state).to_have_text(sf.PREPARING, timeout=30000)
    assert _emails(shop, public_id) == ["processing", "receipt"]


def test_a_bank_debit_the_bank_refuses_says_so_after_processing(shop, shop_page, slow_bank):
    page = shop_page
    sf.checkout(page, shop)
    _pay_from_bank(page, "000222222227")
    state = page.get_by_test_id("order-state")
    expect(state).to_have_text(PROCESSING, timeout=20000)
    public_id = page.url.rsplit("/", 1)[-1]
    assert shop.emulator.ctl("POST", "/_emulator/debits/settle")["settled"]
    expect(state).to_have_text("Your payment didn't go through. Nothing was charged.", timeout=30000)
    assert _emails(shop, public_id) == ["payment-failed", "processing"]
