"""A picture of every page and payment state at desktop and phone widths, for a reviewer to look at:
test-results/screenshots/<page>-<viewport>.png (gitignored). With UPDATE_DOCS_SCREENSHOTS=1 the shop and
checkout pictures are also copied to docs/ for the README."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import storefront as sf

DOCS = Path(__file__).resolve().parents[2] / "docs"
FOR_DOCS = {"catalog-desktop": "shop.png", "checkout-desktop": "checkout.png"}


@pytest.fixture(params=list(sf.VIEWPORTS))
def viewport(request, shop_page):
    shop_page.set_viewport_size(sf.VIEWPORTS[request.param])
    return request.param


def _save(page, name: str) -> None:
    path = sf.screenshot(page, name)
    assert path.stat().st_size > 5000
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") and name in FOR_DOCS:
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / FOR_DOCS[name]), full_page=False, animations="disabled", caret="hide")


@pytest.mark.parametrize("name", list(sf.PAGES))
def test_every_page_type_has_a_screenshot(shop, shop_page, viewport, name):
    sf.PAGES[name](shop_page, shop)
    _save(shop_page, f"{name}-{viewport}")


@pytest.mark.parametrize("name", list(sf.STATES))
def test_every_payment_state_has_a_screenshot(shop, shop_page, viewport, name):
    held = sf.STATES[name](shop_page, shop)
    try:
        _save(shop_page, f"{name}-{viewport}")
    finally:
        for route in held or []:
            route.abort()
        sf.reset_emulator(shop)


@pytest.mark.parametrize("code", sf.ERROR_STATUSES)
def test_every_error_page_has_a_screenshot(shop, shop_page, viewport, error_pages, code):
    sf.error_page(shop_page, shop, error_pages, code)
    _save(shop_page, f"error-{code}-{viewport}")
