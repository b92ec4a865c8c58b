"""Stripe Tax calculations: ``POST /v1/tax/calculations``, retrieve, and their line items.

A calculation changes nothing: it prices the lines and shipping for a customer address at the place's rate
(stripe_emulator/tax_rates.py) and is kept for 90 days, the time a transaction may be recorded from it.
Its ``line_items`` are an includable list: null unless ``expand[]=line_items``.
"""

from aiohttp import web

from stripe_emulator.currencies import currency_code
from stripe_emulator.errors import invalid, missing, unknown_param
from stripe_emulator.httputil import paginate, read_params, respond
from stripe_emulator.ids import new_id, now
from stripe_emulator.objects import list_object
from stripe_emulator.params import check_known, expand_list, integer, metadata, require, string
from stripe_emulator.tax_rates import COUNTRY_NAMES, STATE_NAMES, TAX_TYPE_NAMES, Place, locate, tax_of

routes = web.RouteTableDef()

CALCULATION_PARAMS = {"currency", "line_items", "customer_details", "shipping_cost", "tax_date"}
LINE_ITEM_KEYS = {"amount", "quantity", "reference", "tax_code", "tax_behavior", "product", "metadata"}
CUSTOMER_DETAILS_KEYS = {"address", "address_source", "ip_address", "tax_ids", "taxability_override"}
ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
SHIPPING_KEYS = {"amount", "tax_code", "tax_behavior"}
VALIDITY_SECONDS = 90 * 24 * 3600
DEFAULT_TAX_CODE = "txcd_99999999"  # Stripe's "General - Tangible Goods"
SHIPPING_TAX_CODE = "txcd_92010001"  # Stripe's "Shipping"
EMBEDDED_LIST_LIMIT = 10  # an expanded list carries its first page, as Stripe's do


def check_expand(params, allowed=("line_items",)):
    for path in expand_list(params):
        if path not in allowed:
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    return "line_items" in expand_list(params)


def embedded_list(url, items):
    return list_object(url, items[:EMBEDDED_LIST_LIMIT], len(items) > EMBEDDED_LIST_LIMIT)


def with_line_items(obj, items, params):
    """The object as answered: ``line_items`` filled in when expanded."""
    if not check_expand(params):
        return obj
    return dict(obj, line_items=embedded_list(f"/v1/{obj['object'].replace('.', '/')}s/{obj['id']}/line_items",
                                              items))


def _nested(value, param, allowed):
    if not isinstance(value, dict):
        raise invalid("Invalid object", code="parameter_invalid_object", param=param)
    for key in value:
        if key not in allowed:
            raise unknown_param(f"{param}[{key}]")
    return value


def _behavior(value, param):
    if value in (None, ""):
        return "exclusive"
    if value not in ("exclusive", "inclusive"):
        raise invalid(f"Invalid {param}: must be one of exclusive or inclusive", code="parameter_invalid_string",
                      param=param)
    return value


def _amount(params, name, param):
    if params.get(name) in (None, ""):
        raise missing(param)
    value = integer({param: params[name]}, param)
    if value < 0:
        raise invalid("This value must be greater than or equal to 0.", code="parameter_invalid_integer",
                      param=param)
    return value


def _customer_details(params):
    details = _nested(params.get("customer_details") or {}, "customer_details", CUSTOMER_DETAILS_KEYS)
    if "address" not in details:
        raise missing("customer_details[address]")
    address = _nested(details["address"] or {}, "customer_details[address]", set(ADDRESS_KEYS))
    source = details.get("address_source")
    if source in (None, ""):
        raise missing("customer_details[address_source]")
    if source not in ("shipping", "billing"):
        raise invalid("Invalid customer_details[address_source]: must be one of shipping or billing",
                      code="parameter_invalid_string", param="customer_details[address_source]")
    for key in ADDRESS_KEYS:
        string(address, key)  # strings only
    return {"address": {key: address.get(key) or None for key in ADDRESS_KEYS}, "address_source": source,
            "ip_address": None, "tax_ids": [], "taxability_override": "none"}


def _line_items(params):
    lines = params.get("line_items")
    if lines in (None, "", [], {}):
        raise missing("line_items")
    if not isinstance(lines, list):
        raise invalid("Invalid array", code="parameter_invalid_array", param="line_items")
    seen = set()
    result = []
    for index, line in enumerate(lines):
        prefix = f"line_items[{index}]"
        line = _nested(line, prefix, LINE_ITEM_KEYS)
        reference = string(line, "reference")
        if not reference:
            raise missing(f"{prefix}[reference]")
        if reference in seen:
            raise invalid(f"The line item reference '{reference}' is used more than once; each line item's "
                          "reference must be unique within the calculation.", code="parameter_invalid_string",
                          param=f"{prefix}[reference]")
        seen.add(reference)
        quantity = integer({f"{prefix}[quantity]": line.get("quantity")}, f"{prefix}[quantity]", 1)
        if quantity < 1:
            raise invalid("This value must be greater than or equal to 1.", code="parameter_invalid_integer",
                          param=f"{prefix}[quantity]")
        result.append({"amount": _amount(line, "amount", f"{prefix}[amount]"), "quantity": quantity,
                       "reference": reference, "tax_code": string(line, "tax_code") or DEFAULT_TAX_CODE,
                       "tax_behavior": _behavior(line.get("tax_behavior"), f"{prefix}[tax_behavior]"),
                       "product": string(line, "product"),
                       "metadata": metadata(line, name="metadata") if "metadata" in line else None})
    return result


def _shipping(params):
    value = params.get("shipping_cost")
    if value in (None, ""):
        return None
    value = _nested(value, "shipping_cost", SHIPPING_KEYS)
    return {"amount": _amount(value, "amount", "shipping_cost[amount]"),
            "tax_behavior": _behavior(value.get("tax_behavior"), "shipping_cost[tax_behavior]"),
            "tax_code": string(value, "tax_code") or SHIPPING_TAX_CODE}


def line_breakdown(place: Place, amount: int, tax: int, inclusive: bool) -> list:
    """A line's (or shipping's) ``tax_breakdown``: one jurisdiction, the place's."""
    level = "state" if place.state else "country"
    name = STATE_NAMES.get(place.state) if place.state else COUNTRY_NAMES.get(place.country)
    return [{
        "amount": tax,
        "jurisdiction": {"country": place.country, "display_name": name or place.state or place.country,
                         "level": level, "state": place.state},
        "sourcing": "destination",
        "tax_rate_details": None if place.reason == "not_collecting" else {
            "display_name": TAX_TYPE_NAMES[place.tax_type], "percentage_decimal": place.percentage,
            "tax_type": place.tax_type},
        "taxability_reason": place.reason,
        "taxable_amount": _taxable(place, amount, tax, inclusive),
    }]


def _taxable(place, amount, tax, inclusive):
    if place.reason == "not_collecting":
        return 0
    return amount - tax if inclusive else amount


def _summary(place: Place, parts) -> list:
    """The calculation's ``tax_breakdown``: per tax behaviour, the sum over lines and shipping."""
    result = []
    for inclusive in (False, True):
        chosen = [(amount, tax) for amount, tax, inc in parts if inc == inclusive]
        if not chosen:
            continue
        result.append({
            "amount": sum(tax for _, tax in chosen), "inclusive": inclusive,
            "tax_rate_details": {"country": place.country, "flat_amount": None,
                                 "percentage_decimal": place.percentage, "rate_type": "percentage",
                                 "state": place.state, "tax_type": place.tax_type},
            "taxability_reason": place.reason,
            "taxable_amount": sum(_taxable(place, amount, tax, inclusive) for amount, tax in chosen),
        })
    return result


def calculate(params, validity: int = VALIDITY_SECONDS) -> tuple[dict, list]:
    """The calculation and its line items, from the request's parameters."""
    currency = currency_code(require(params, "currency"))
    lines = _line_items(params)
    details = _customer_details(params)
    shipping = _shipping(params)
    place = locate(details["address"])
    created = now()
    calc_id = new_id("taxcalc")
    parts, items = [], []
    for line in lines:
        inclusive = line["tax_behavior"] == "inclusive"
        tax = tax_of(line["amount"], place.rate, inclusive)
        parts.append((line["amount"], tax, inclusive))
        items.append({"id": new_id("tax_li", 14), "object": "tax.calculation_line_item", "amount": line["amount"],
                      "amount_tax": tax, "livemode": False, "metadata": line["metadata"],
                      "product": line["product"], "quantity": line["quantity"], "reference": line["reference"],
                      "tax_behavior": line["tax_behavior"],
                      "tax_breakdown": line_breakdown(place, line["amount"], tax, inclusive),
                      "tax_code": line["tax_code"]})
    shipping_cost = None
    if shipping is not None:
        inclusive = shipping["tax_behavior"] == "inclusive"
        tax = tax_of(shipping["amount"], place.rate, inclusive)
        parts.append((shipping["amount"], tax, inclusive))
        shipping_cost = {"amount": shipping["amount"], "amount_tax": tax, "shipping_rate": None,
                         "tax_behavior": shipping["tax_behavior"],
                         "tax_breakdown": line_breakdown(place, shipping["amount"], tax, inclusive),
                         "tax_code": shipping["tax_code"]}
    exclusive_tax = sum(tax for _, tax, inclusive in parts if not inclusive)
    calc = {
        "id": calc_id, "object": "tax.calculation",
        "amount_total": sum(amount for amount, _, _ in parts) + exclusive_tax,
        "currency": currency, "customer": None, "customer_details": details,
        "expires_at": created + validity, "line_items": None, "livemode": False,
        "ship_from_details": None, "shipping_cost": shipping_cost,
        "tax_amount_exclusive": exclusive_tax,
        "tax_amount_inclusive": sum(tax for _, tax, inclusive in parts if inclusive),
        "tax_breakdown": _summary(place, parts), "tax_date": integer(params, "tax_date", created),
    }
    return calc, items


@routes.post("/v1/tax/calculations")
async def create(request):
    """Tax for lines and shipping at the customer's address; `line_items` only with `expand[]=line_items`."""
    params = await read_params(request)
    check_known(params, CALCULATION_PARAMS)
    check_expand(params)
    emu = request.app["emu"]
    calc, items = calculate(params, emu.tax_calculation_validity or VALIDITY_SECONDS)
    emu.store["tax_calculation"].add(calc, meta=items)
    return respond(with_line_items(calc, items, params))


def _load(request):
    return request.app["emu"].store["tax_calculation"].require(request.match_info["id"], "calculation")


@routes.get("/v1/tax/calculations/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, set())
    calc = _load(request)
    return respond(with_line_items(calc, request.app["emu"].store["tax_calculation"].meta[calc["id"]], params))


@routes.get("/v1/tax/calculations/{id}/line_items")
async def line_items(request):
    """The calculation's line items, in the order given, paginated."""
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before"})
    calc = _load(request)
    items = request.app["emu"].store["tax_calculation"].meta[calc["id"]]
    return respond(paginate(items, params, f"/v1/tax/calculations/{calc['id']}/line_items"))
