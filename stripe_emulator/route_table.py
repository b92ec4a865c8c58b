"""``stripe-emulator routes``: what the API serves, read from the server's own route table.

The parameters are those each handler passes to ``check_known`` (found in its source), so the table in
docs/emulator.md cannot drift from the code: ``stripe-emulator routes --write docs/emulator.md``
regenerates it and tests/emulator/test_route_docs.py fails when it is stale.
"""

import argparse
import ast
import inspect
import re
import sys
import textwrap
import warnings

from stripe_emulator.core import Config
from stripe_emulator.params import COMMON
from stripe_emulator.server import build_emulator, make_api_app

BEGIN = "<!-- routes:begin (generated: stripe-emulator routes --write docs/emulator.md) -->"
END = "<!-- routes:end -->"
AUTH_PARAMS = {"key"}  # the publishable key sent as a parameter: see "Keys"

# Behaviours a parameter list cannot show, keyed by "METHOD path"; a key that names no route is an error.
NOTES = {
    "POST /v1/confirmation_tokens": "publishable key; card fields in `payment_method_data[card]`; sent by the "
                                    "Payment Element iframe",
    "POST /v1/test_helpers/confirmation_tokens": "`payment_method=pm_card_visa` etc.",
    "GET /v1/confirmation_tokens/{id}": "never carries an amount",
    "POST /v1/payment_methods": "cards only",
    "POST /v1/payment_intents": "`confirm=true` runs the confirmation below; test cards decide the outcome",
    "POST /v1/payment_intents/{id}/confirm": "`succeeded`, `requires_capture`, `requires_action` (3DS) or a 402 "
                                             "decline",
    "GET /v1/payment_intents/{id}": "`client_secret` lets the publishable key read it; `expand[]=latest_charge`, "
                                    "`payment_method`",
    "POST /v1/payment_intents/{id}": "while not yet paid; metadata `\"\"` unsets a key",
    "POST /v1/payment_intents/{id}/cancel": "any unpaid state; releases an authorization",
    "POST /v1/payment_intents/{id}/capture": "`amount_to_capture` below the authorization releases the rest",
    "POST /v1/three_d_secure/{id}/challenge": "publishable key + `client_secret`, `result=complete|fail` "
                                              "(the emulator's 3DS page; not a Stripe route)",
    "POST /v1/refunds": "`pm_card_pendingRefund` and `pm_card_refundFail` settle 0.3 s later",
    "POST /v1/disputes/{id}": "`evidence[uncategorized_text]=winning_evidence|losing_evidence` decides the "
                              "dispute 0.2 s after submission",
    "POST /v1/disputes/{id}/close": "accepts the dispute: `lost`",
    "GET /v1/events": "`type` also as a prefix (`charge.*`)",
    "POST /v1/webhook_endpoints": "the answer carries `secret`",
    "POST /v1/tax/calculations": "rates from stripe_emulator/tax_rates.py; an address it cannot place: 400 "
                                 "`customer_tax_location_invalid`; `expand[]=line_items`",
    "POST /v1/tax/transactions/create_from_calculation": "`reference` unique; an expired calculation: 400 "
                                                         "`tax_calculation_expired`",
    "POST /v1/tax/transactions/create_reversal": "`mode=full` (nothing reversed yet) or `partial` by `flat_amount` "
                                                 "(negative, tax included) or by `line_items`/`shipping_cost`; "
                                                 "never more than remains",
}

# Stripe resources a storefront may reach for; those with no route above are listed as not served.
STRIPE_RESOURCES = ("/v1/customers", "/v1/setup_intents", "/v1/checkout/sessions", "/v1/payment_links",
                    "/v1/tokens", "/v1/sources", "/v1/products", "/v1/prices", "/v1/coupons", "/v1/promotion_codes",
                    "/v1/invoices", "/v1/subscriptions", "/v1/tax/calculations", "/v1/tax/transactions",
                    "/v1/balance", "/v1/balance_transactions", "/v1/payouts", "/v1/transfers", "/v1/accounts",
                    "/v1/files", "/v1/radar/early_fraud_warnings", "/v1/billing_portal/sessions")


def api_routes():
    """(method, path, handler) for each /v1 route the API app serves, in registration order."""
    with warnings.catch_warnings():  # a throwaway app, never served: aiohttp's style notes do not apply
        warnings.simplefilter("ignore")
        app = make_api_app(build_emulator(Config()), None)
    return [(route.method, route.resource.canonical, route.handler) for route in app.router.routes()
            if route.method != "HEAD" and route.resource.canonical.startswith("/v1/")]


def accepted_params(handler, depth: int = 1):
    """The names a handler allows through ``check_known`` (in its own body or in a module function it calls,
    one level down), or None when it refuses nothing."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    helpers = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None)
        if name == "check_known" and len(node.args) == 2:
            allowed = node.args[1]
            if isinstance(allowed, ast.Name):
                return set(handler.__globals__[allowed.id]) | COMMON
            return set(ast.literal_eval(allowed) if isinstance(allowed, ast.Set) else ()) | COMMON
        called = handler.__globals__.get(name) if name else None
        if inspect.isfunction(called) and called.__module__ == handler.__module__:
            helpers.append(called)
    for helper in helpers if depth > 0 else ():
        found = accepted_params(helper, depth - 1)
        if found is not None:
            return found
    return None


def _summary(handler):
    doc = inspect.getdoc(handler) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def markdown() -> str:
    routes = api_routes()
    keys = {f"{method} {path}" for method, path, _ in routes}
    stale = sorted(set(NOTES) - keys)
    if stale:
        raise ValueError(f"NOTES name routes the API does not serve: {', '.join(stale)}")
    lines = ["| Method | Path | Parameters accepted | Notes |", "|---|---|---|---|"]
    for method, path, handler in routes:
        params = accepted_params(handler)
        shown = ", ".join(f"`{name}`" for name in sorted((params or set()) - AUTH_PARAMS)) if params is not None \
            else "any (unknown parameters are not refused)"
        notes = (NOTES.get(f"{method} {path}") or _summary(handler)).replace("|", "\\|")
        lines.append(f"| {method} | `{path}` | {shown or 'none'} | {notes} |")
    served = {path for _, path, _ in routes}
    missing = [r for r in STRIPE_RESOURCES if not any(p == r or p.startswith(r + "/") for p in served)]
    lines += ["", "Every other path answers 404 `Unrecognized request URL`, as Stripe does for a path it does not "
              "have; among Stripe's resources that means: " + ", ".join(f"`{r}`" for r in missing) + "."]
    return "\n".join(lines) + "\n"


def replace_section(document: str, table: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if not pattern.search(document):
        raise ValueError(f"no generated section ({BEGIN} ... {END}) in the document")
    return pattern.sub(lambda _: f"{BEGIN}\n{table}{END}", document)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stripe-emulator routes",
                                description="Print the API's routes as a Markdown table, or update a document.")
    p.add_argument("--markdown", action="store_true", help="print the table (the default)")
    p.add_argument("--write", metavar="FILE", help="replace the generated section of FILE, e.g. docs/emulator.md")
    args = p.parse_args(argv)
    table = markdown()
    if args.write:
        with open(args.write, encoding="utf-8") as f:
            document = f.read()
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(replace_section(document, table))
        print(f"updated {args.write}", file=sys.stderr)
    else:
        sys.stdout.write(table)
    return 0
