"""The payment page in Chromium: only the inventoried scripts load, an injected inline script is blocked and
reported to /csp-report, and card data never reaches the shop: not in a request, the database or the log."""
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, inspect, text

from checkout_steps import add_to_cart, fill_card, open_checkout, pay
from tests.support.net import ROOT

CARD, EXPIRY, CVC, POSTAL = "4242 4242 4242 4242", "09 / 37", "739", "94107"
VIOLATIONS_SCRIPT = """() => { window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


def _inventory(shop) -> list[str]:
    """The script URLs listed in SECURITY.md, placeholders filled in for this shop."""
    doc = (ROOT / "SECURITY.md").read_text()
    table = doc.split("<!-- script-inventory:start -->")[1].split("<!-- script-inventory:end -->")[0]
    rows = [re.match(r"\|\s*`([^`]+)`", line) for line in table.splitlines()]
    stripe_js = shop.env["STRIPE_JS_URL"]
    fill = {"{STRIPE_JS_URL}": stripe_js, "{STRIPE_ORIGIN}": _origin(stripe_js), "{SHOP}": shop.url}
    entries = []
    for row in filter(None, rows):
        entry = row[1]
        for placeholder, value in fill.items():
            entry = entry.replace(placeholder, value)
        entries.append(entry)
    return entries


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _listed(url: str, inventory: list[str]) -> bool:
    return any(url == entry or (entry.endswith("*") and url.startswith(entry[:-1])) for entry in inventory)


def test_the_checkout_page_loads_only_the_scripts_in_the_inventory(shop, shop_page):
    page = shop_page
    inventory = _inventory(shop)
    assert len(inventory) >= 3, inventory
    scripts = []
    page.on("request", lambda r: scripts.append((r.frame.url, r.url)) if r.resource_type == "script" else None)
    add_to_cart(page, shop.url)
    page.add_init_script(script=f"({VIOLATIONS_SCRIPT})()")
    open_checkout(page, shop.url)
    page_scripts = page.evaluate("() => Array.from(document.scripts, s => s.src || '(inline)')")
    page_scripts = [urlsplit(u)._replace(query="").geturl() for u in page_scripts]  # less the ?v= fingerprint
    checkout_requests = [url for frame, url in scripts if not frame.startswith(shop.url) or "/checkout" in frame]
    assert checkout_requests, scripts
    for url in page_scripts + [urlsplit(u)._replace(query="").geturl() for u in checkout_requests]:
        assert _listed(url, inventory), f"{url} is not in SECURITY.md's script inventory"
    assert f"{shop.url}/static/js/checkout.js" in page_scripts
    assert page.evaluate("() => window.__violations") == []


def _csp_reports(shop):
    engine = create_engine(shop.database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT directive, blocked_uri, document_uri, count FROM csp_report")).all()
    finally:
        engine.dispose()


def test_an_injected_inline_script_is_blocked_and_reported_to_the_shop(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url)
    open_checkout(page, shop.url)
    try:
        page.add_script_tag(content="window.__skimmer = 'ran';")
    except Exception as error:  # Playwright may surface the block itself
        assert "Content Security Policy" in str(error) or "CSP" in str(error), error
    assert page.evaluate("() => window.__skimmer") is None
    started = time.monotonic()
    deadline = started + 90
    while time.monotonic() < deadline:
        reports = [r for r in _csp_reports(shop) if r.blocked_uri == "inline" and r.document_uri.endswith("/checkout")]
        if reports:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no CSP report stored within 90 s: {_csp_reports(shop)}")
    print(f"inline script blocked; report stored {time.monotonic() - started:.1f} s later")
    assert reports[0].directive.startswith("script-src")


def _database_text(shop) -> str:
    """Every value in every table (and, on SQLite, the raw database files)."""
    engine = create_engine(shop.database_url)
    chunks = []
    try:
        with engine.connect() as connection:
            for table in inspect(connection).get_table_names():
                for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                    chunks.append(" | ".join(str(v) for v in row))
    finally:
        engine.dispose()
    if shop.database_url.startswith("sqlite:///"):
        path = Path(shop.database_url.removeprefix("sqlite:///"))
        for file in (path, Path(f"{path}-wal")):
            if file.exists():
                chunks.append(file.read_bytes().decode("latin-1"))
    return "\n".join(chunks)


def test_a_full_purchase_sends_no_card_data_to_the_shop_and_stores_none(shop, shop_page):
    page = shop_page
    requests = []
    page.on("request", lambda r: requests.append(r) if r.url.startswith(shop.url) else None)
    page.add_init_script(script=f"({VIOLATIONS_SCRIPT})()")
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, CARD, expiry=EXPIRY, cvc=CVC, postal=POSTAL)
    pay(page)
    page.wait_for_url(re.compile(r".*/orders/[0-9a-f]{32}$"))
    page.get_by_test_id("order-state").wait_for()
    assert page.evaluate("() => window.__violations") == []  # the whole purchase ran under the CSP
    assert any(r.url.endswith("/checkout/confirm") for r in requests)
    digits = CARD.replace(" ", "")
    for request in requests:
        sent = " ".join([request.url, request.post_data or "", *request.headers.values()])
        for secret in (digits, CARD, digits[-8:], EXPIRY, EXPIRY.replace(" ", ""), "0937"):
            assert secret not in sent, (secret, request.url)
        assert not re.search(rf"\b{CVC}\b", sent), request.url
    time.sleep(1)  # let the worker finish writing
    stored = _database_text(shop)
    log = shop.log_path.read_text(errors="replace")
    rows = "\n".join(line for line in stored.splitlines() if " | " in line)
    for where, blob in (("database", stored), ("shop log", log)):
        for secret in (digits, CARD, EXPIRY, EXPIRY.replace(" ", "")):
            assert secret not in blob, (secret, where)
    # a 3-digit CVC is too short to look for as bare text (timings contain it): look for it as a value
    cvc_as_value = re.compile(rf"""(?:[=:]\s*["']?|["']|\| ){CVC}(?![\w.])|(?<![a-z0-9])cvc\W{{1,4}}\d""", re.I)
    for where, blob in (("database", rows), ("shop log", log)):
        assert not cvc_as_value.search(blob), (where, cvc_as_value.search(blob))
