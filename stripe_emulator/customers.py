"""Customers: create, retrieve, update, delete, list and search.

Search understands a minimal part of Stripe's search query language: ``email``, ``name``, ``phone`` and
``metadata['key']`` equality (``field:'value'``), clauses joined by ``AND`` or by ``OR`` (not both). The
payment-intent search could share one parser with this later.
"""

import re

from aiohttp import web

from stripe_emulator.errors import StripeError, invalid, no_such
from stripe_emulator.httputil import created_filter, paginate, read_params, respond
from stripe_emulator.ids import new_id, now
from stripe_emulator.params import check_known, integer, metadata, string
from stripe_emulator.payment_methods import pm_from_alias_or_id

routes = web.RouteTableDef()

FIELDS = ("address", "description", "email", "metadata", "name", "phone", "shipping", "preferred_locales",
          "invoice_settings", "tax_exempt")
CREATE_PARAMS = set(FIELDS) | {"payment_method"}
TEXT_FIELDS = ("description", "email", "name", "phone")
ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def customer():
    return {
        "id": new_id("cus", 14), "object": "customer", "address": None, "balance": 0, "created": now(),
        "currency": None, "default_source": None, "delinquent": False, "description": None, "discount": None,
        "email": None, "invoice_prefix": new_id("x", 7)[2:].upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": {}, "name": None, "next_invoice_sequence": 1, "phone": None,
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
    }


def live_customer(emu, cus_id, param="customer"):
    """The customer, or Stripe's 404 (also for a deleted one)."""
    cus = emu.store["customer"].get(cus_id) if isinstance(cus_id, str) else None
    if cus is None or cus.get("deleted"):
        raise no_such("customer", cus_id, param)
    return cus


def _address(value, param):
    if value in (None, ""):
        return None
    if not isinstance(value, dict) or set(value) - set(ADDRESS_KEYS):
        raise invalid("Invalid object", code="parameter_invalid_object", param=param)
    return {key: value.get(key) for key in ADDRESS_KEYS}


def _shipping(value):
    if value in (None, ""):
        return None
    if not isinstance(value, dict) or not value.get("name"):
        raise invalid("Missing required param: shipping[name].", code="parameter_missing", param="shipping[name]")
    return {"address": _address(value.get("address") or {}, "shipping[address]"), "name": value["name"],
            "phone": value.get("phone")}


def _apply(emu, cus, params):
    """Set the given fields; return the previous values of those that changed."""
    before = dict(cus)
    for name in TEXT_FIELDS:
        if name in params:
            cus[name] = string(params, name)
    if "address" in params:
        cus["address"] = _address(params["address"], "address")
    if "shipping" in params:
        cus["shipping"] = _shipping(params["shipping"])
    if "metadata" in params:
        cus["metadata"] = metadata(params, cus["metadata"])
    if "preferred_locales" in params:
        locales = params["preferred_locales"] or []
        cus["preferred_locales"] = list(locales.values()) if isinstance(locales, dict) else list(locales)
    if "tax_exempt" in params:
        if params["tax_exempt"] not in ("none", "exempt", "reverse"):
            raise invalid(f"Invalid tax_exempt: {params['tax_exempt']}", code="parameter_invalid_string",
                          param="tax_exempt")
        cus["tax_exempt"] = params["tax_exempt"]
    settings = params.get("invoice_settings")
    if settings not in (None, ""):
        if not isinstance(settings, dict) or set(settings) != {"default_payment_method"}:
            raise invalid("The emulator supports only invoice_settings[default_payment_method].",
                          param="invoice_settings")
        pm_id = settings["default_payment_method"] or None
        if pm_id is not None:
            pm = emu.store["payment_method"].get(pm_id)
            if pm is None or pm["customer"] != cus["id"]:
                raise invalid(f"No such PaymentMethod: '{pm_id}'; it must be attached to this customer first.",
                              code="resource_missing", param="invoice_settings[default_payment_method]")
        cus["invoice_settings"] = dict(cus["invoice_settings"], default_payment_method=pm_id)
    return {key: before[key] for key in cus if cus[key] != before[key]}


def attach_payment_method(emu, pm, cus, request, emit=True):
    """Save a PaymentMethod to a customer (``payment_method.attached``)."""
    if pm["customer"] not in (None, cus["id"]):
        raise invalid("The payment method you provided has already been attached to a customer.",
                      param="payment_method", store=True)
    if pm["customer"] is None:
        pm["customer"] = cus["id"]
        if emit:
            emu.emit("payment_method.attached", pm, request)
    return pm


@routes.post("/v1/customers")
async def create(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, CREATE_PARAMS)
    cus = customer()
    table = emu.store["customer"]
    table.add(cus, meta=set())
    pm = None
    try:
        if params.get("payment_method"):
            pm = pm_from_alias_or_id(emu, params["payment_method"])
            attach_payment_method(emu, pm, cus, request, emit=False)
        _apply(emu, cus, params)
    except StripeError:
        table.delete(cus["id"])
        if pm is not None and pm["customer"] == cus["id"]:
            pm["customer"] = None
        raise
    emu.emit("customer.created", cus, request)
    if pm is not None:
        emu.emit("payment_method.attached", pm, request)
    return respond(cus)


@routes.get("/v1/customers/search")
async def search(request):
    params = await read_params(request)
    check_known(params, {"query", "limit", "page"})
    match = parse_query(params.get("query"))
    limit = integer(params, "limit", 10, minimum=1, maximum=100)
    page = params.get("page") or "0"
    if not page.isdigit():
        raise invalid(f"Invalid page: {page}", param="page")
    found = [cus for cus in request.app["emu"].store["customer"].newest_first()
             if not cus.get("deleted") and match(cus)]
    start = int(page)
    more = len(found) > start + limit
    return respond({"object": "search_result", "data": found[start:start + limit], "has_more": more,
                    "next_page": str(start + limit) if more else None, "url": "/v1/customers/search"})


@routes.get("/v1/customers/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, set())
    cus = request.app["emu"].store["customer"].get(request.match_info["id"])
    if cus is None:
        raise no_such("customer", request.match_info["id"])
    return respond(cus)


@routes.post("/v1/customers/{id}")
async def update(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set(FIELDS))
    cus = live_customer(emu, request.match_info["id"], "id")
    previous = _apply(emu, cus, params)
    if previous:
        emu.emit("customer.updated", cus, request, previous=previous)
    return respond(cus)


@routes.delete("/v1/customers/{id}")
async def delete(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, set())
    cus = live_customer(emu, request.match_info["id"], "id")
    table = emu.store["customer"]
    # Stripe keeps answering a deleted customer's id with this stub
    table.items[cus["id"]] = {"id": cus["id"], "object": "customer", "deleted": True}
    table.meta[cus["id"]] = set()
    emu.emit("customer.deleted", cus, request)
    return respond(table.items[cus["id"]])


@routes.get("/v1/customers")
async def list_route(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "email", "test_clock"})
    email = params.get("email")
    by_created = created_filter(params)

    def keep(cus):
        return not cus.get("deleted") and by_created(cus) and (email is None or cus["email"] == email)
    return respond(paginate(request.app["emu"].store["customer"].newest_first(), params, "/v1/customers", keep))


_CLAUSE = re.compile(r"""\s*(email|name|phone|description|metadata\[(?:'([^']*)'|"([^"]*)")\])\s*:\s*"""
                     r"""(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*""")
_JOIN = re.compile(r"(AND|OR)\s")


def parse_query(query):
    """A predicate for a search query, or Stripe's 400 for one it cannot read."""
    if not isinstance(query, str) or not query.strip():
        raise invalid("Missing required param: query.", code="parameter_missing", param="query")
    clauses, joins, pos = [], set(), 0
    while True:
        m = _CLAUSE.match(query, pos)
        if not m:
            raise invalid(f"Invalid query: the emulator understands only email, name, phone, description and "
                          f"metadata['key'] equality, e.g. email:'a@example.com' (at character {pos}).",
                          code="parameter_invalid_string", param="query")
        field = m.group(1)
        key = m.group(2) if m.group(2) is not None else m.group(3)
        value = re.sub(r"\\(.)", r"\1", m.group(4) if m.group(4) is not None else m.group(5))
        clauses.append((field, key, value))
        pos = m.end()
        if pos == len(query):
            break
        j = _JOIN.match(query, pos)
        if not j:
            raise invalid(f"Invalid query: expected AND or OR at character {pos}.",
                          code="parameter_invalid_string", param="query")
        joins.add(j.group(1))
        pos = j.end()
    if len(joins) > 1:
        raise invalid("Invalid query: AND and OR cannot be combined in one query.",
                      code="parameter_invalid_string", param="query")

    def holds(cus, clause):
        field, key, value = clause
        if key is not None:
            return cus["metadata"].get(key) == value
        return (cus[field] or "").lower() == value.lower()
    combine = any if joins == {"OR"} else all
    return lambda cus: combine(holds(cus, clause) for clause in clauses)
