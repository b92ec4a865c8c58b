"""The Search API for PaymentIntents and Charges, with Stripe's search query language.

A query is up to 10 clauses joined by spaces or ``AND``, or by ``OR`` (never both). A clause is
``field:value`` (exact, case-insensitive), ``field~"sub"`` (substring, at least 3 characters), ``field>n``,
``>=``, ``<``, ``<=`` (numbers: ``amount``, ``created``), ``metadata["key"]:"value"``, ``field:null``, and a
leading ``-`` negates it. Strings are quoted with double (or single) quotes; numbers may stand bare. Results
are newest first; ``page`` takes the ``next_page`` of the previous result. Unlike Stripe, whose index lags up
to a minute behind, a new object is found at once.
"""

import base64
import re

from aiohttp import web

from stripe_emulator.auth import PK_FORBIDDEN
from stripe_emulator.errors import StripeError, invalid, missing
from stripe_emulator.httputil import expand, read_params, respond
from stripe_emulator.params import check_known, expand_list, integer

routes = web.RouteTableDef()

MAX_CLAUSES = 10
NUMERIC = {"amount", "created"}
FIELDS = {
    "payment_intent": {"amount", "created", "currency", "customer", "status"},
    "charge": {"amount", "created", "currency", "customer", "status", "disputed", "refunded", "payment_intent",
               "billing_details.address.postal_code", "payment_method_details.card.last4",
               "payment_method_details.card.brand", "payment_method_details.card.exp_month",
               "payment_method_details.card.exp_year", "payment_method_details.card.fingerprint"},
}
CLAUSE = re.compile(r"""
    (?P<neg>-)?
    (?:metadata\[(?P<q>["'])(?P<key>[^"']+)(?P=q)\]|(?P<field>[a-z_][a-z0-9_.]*))
    (?P<op>:|~|>=|<=|>|<|=)
    (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"']+)
    """, re.VERBOSE)
JOINER = re.compile(r"\s+(?:(AND|OR)\s+)?|\s*$")


def parse(query: str, kind: str):
    """(joiner, [(negated, field, metadata_key, op, value)]) or Stripe's 400 for a query it cannot read."""
    if not isinstance(query, str) or not query.strip():
        raise missing("query")
    clauses, joiners, pos, text = [], set(), 0, query.strip()
    while pos < len(text):
        m = CLAUSE.match(text, pos)
        if m is None:
            raise _bad(f"could not parse the query at position {pos}: {text[pos:pos + 30]!r}")
        clauses.append(_clause(m, kind))
        j = JOINER.match(text, m.end())
        if j is None or (j.end() == m.end() and j.end() < len(text)):
            raise _bad(f"could not parse the query at position {m.end()}: {text[m.end():m.end() + 30]!r}")
        if j.end() < len(text):
            joiners.add(j.group(1) or "AND")
        pos = j.end()
    if len(joiners) > 1:
        raise _bad("`AND` and `OR` cannot be combined in one query")
    if len(clauses) > MAX_CLAUSES:
        raise _bad(f"a query has at most {MAX_CLAUSES} clauses")
    return (joiners.pop() if joiners else "AND"), clauses


def _bad(reason):
    return invalid(f"Invalid search query: {reason}.", param="query")


def _clause(m, kind):
    field, key, op, raw = m.group("field"), m.group("key"), m.group("op"), m.group("value")
    if field is not None and field not in FIELDS[kind]:
        raise _bad(f"`{field}` is not a supported field for {kind} search "
                   f"(supported: metadata, {', '.join(sorted(FIELDS[kind]))})")
    quoted = raw[0] in "\"'"
    value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if quoted else raw
    if not quoted and value == "null":
        value = None
    if op in (">", "<", ">=", "<=", "="):
        if field not in NUMERIC:
            raise _bad(f"`{op}` only applies to numeric fields ({', '.join(sorted(NUMERIC))})")
        if not str(value).lstrip("-").isdigit():
            raise _bad(f"`{field}` takes a number, not {raw}")
        value = int(value)
    elif op == "~" and (value is None or len(value) < 3):
        raise _bad("a substring match (`~`) needs at least 3 characters")
    elif field in NUMERIC and value is not None:
        if not str(value).lstrip("-").isdigit():
            raise _bad(f"`{field}` takes a number, not {raw}")
        value = int(value)
    return bool(m.group("neg")), field, key, op, value


def _field_value(obj, field, key):
    if key is not None:
        return (obj.get("metadata") or {}).get(key)
    value = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _matches(obj, clause):
    negated, field, key, op, wanted = clause
    value = _field_value(obj, field, key)
    if wanted is None:
        hit = value in (None, "")
    elif op == ":" and isinstance(wanted, int):
        hit = value == wanted
    elif op == ":":
        hit = value is not None and str(value).lower() == str(wanted).lower()
    elif op == "~":
        hit = value is not None and str(wanted).lower() in str(value).lower()
    elif not isinstance(value, int) or isinstance(value, bool):
        hit = False
    else:
        hit = {">": value > wanted, "<": value < wanted, ">=": value >= wanted, "<=": value <= wanted,
               "=": value == wanted}[op]
    return hit != negated


def _cursor(obj_id):
    return base64.urlsafe_b64encode(obj_id.encode()).decode()


def _after(page):
    try:
        return base64.urlsafe_b64decode(page.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page: {page!s:.40}", param="page")


async def _search(request, kind, url):
    if request.get("auth") == "publishable":
        raise StripeError(401, "invalid_request_error", PK_FORBIDDEN, store=False)
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"query", "limit", "page"})
    joiner, clauses = parse(params.get("query"), kind)
    limit = integer(params, "limit", 10, minimum=1, maximum=100)
    test = all if joiner == "AND" else any
    items = (obj for obj in emu.store[kind].newest_first() if test(_matches(obj, c) for c in clauses))
    if params.get("page"):
        after = _after(params["page"])
        for obj in items:
            if obj["id"] == after:
                break
    found = []
    for obj in items:
        found.append(obj)
        if len(found) > limit:
            break
    data, more = found[:limit], len(found) > limit
    result = {"object": "search_result", "data": data, "has_more": more,
              "next_page": _cursor(data[-1]["id"]) if more else None, "url": url}
    if "total_count" in expand_list(params):
        result["total_count"] = sum(1 for obj in emu.store[kind].newest_first()
                                    if test(_matches(obj, c) for c in clauses))
    return respond(expand(result, params, emu))


@routes.get("/v1/payment_intents/search")
async def search_payment_intents(request):
    return await _search(request, "payment_intent", "/v1/payment_intents/search")


@routes.get("/v1/charges/search")
async def search_charges(request):
    return await _search(request, "charge", "/v1/charges/search")


@routes.post("/v1/payment_intents/search")
@routes.post("/v1/charges/search")
async def unrecognized(request):
    raise web.HTTPNotFound()  # answered as Stripe's "Unrecognized request URL" by the envelope middleware
