"""Stripe Tax transactions: recorded from a calculation, reversed in full or in part, retrieved.

Each transaction keeps (privately) what of each line and of shipping is still unreversed, so reversals
across several requests can never give back more than was recorded. References are unique per account.
"""

from decimal import Decimal

from aiohttp import web

from stripe_emulator.errors import invalid, missing, unknown_param
from stripe_emulator.httputil import paginate, read_params, respond
from stripe_emulator.ids import new_id, now
from stripe_emulator.params import check_known, integer, metadata, require, string
from stripe_emulator.tax_calculations import check_expand, with_line_items
from stripe_emulator.tax_rates import round_units

routes = web.RouteTableDef()

FROM_CALCULATION_PARAMS = {"calculation", "reference", "metadata", "posted_at"}
REVERSAL_PARAMS = {"mode", "original_transaction", "reference", "flat_amount", "line_items", "shipping_cost",
                   "metadata"}
REVERSAL_LINE_KEYS = {"original_line_item", "amount", "amount_tax", "quantity", "reference", "metadata"}
SHIPPING = "shipping"


def _table(emu):
    return emu.store["tax_transaction"]


def _check_reference(emu, reference):
    used = next((t for t in _table(emu).items.values() if t["reference"] == reference), None)
    if used is not None:
        raise invalid(f"The reference '{reference}' has already been used by tax transaction '{used['id']}'. "
                      "Each transaction and reversal needs a unique reference.", param="reference", store=True)


def _transaction(*, currency, customer_details, reference, metadata_, shipping_cost, tax_date, type_,
                 original=None, posted_at=None):
    created = now()
    return {
        "id": new_id("tax"), "object": "tax.transaction", "created": created, "currency": currency,
        "customer": None, "customer_details": customer_details, "line_items": None, "livemode": False,
        "metadata": metadata_, "posted_at": posted_at or created, "reference": reference,
        "reversal": {"original_transaction": original} if original else None, "ship_from_details": None,
        "shipping_cost": shipping_cost, "tax_date": tax_date, "type": type_,
    }


def _line_item(line, amount, amount_tax, type_, original_line_item=None, quantity=None, reference=None,
               metadata_=None):
    return {"id": new_id("tax_li", 14), "object": "tax.transaction_line_item", "amount": amount,
            "amount_tax": amount_tax, "livemode": False,
            "metadata": metadata_ if metadata_ is not None else line.get("metadata"),
            "product": line["product"], "quantity": quantity or line["quantity"],
            "reference": reference or line["reference"],
            "reversal": {"original_line_item": original_line_item} if original_line_item else None,
            "tax_behavior": line["tax_behavior"], "tax_code": line["tax_code"], "type": type_}


def _answer(emu, txn, params):
    return respond(with_line_items(txn, _table(emu).meta[txn["id"]]["line_items"], params))


@routes.post("/v1/tax/transactions/create_from_calculation")
async def create_from_calculation(request):
    """Records the tax of a calculation (before it expires); `reference` is unique per account."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, FROM_CALCULATION_PARAMS)
    check_expand(params)
    calc_id = require(params, "calculation")
    reference = string(params, "reference")
    if not reference:
        raise missing("reference")
    calc = emu.store["tax_calculation"].require(calc_id, "calculation")
    if calc["expires_at"] <= now():
        raise invalid(f"The tax calculation '{calc_id}' has expired; a transaction can only be created from a "
                      "calculation that has not expired. Create a new calculation.", code="tax_calculation_expired",
                      param="calculation", store=True)
    _check_reference(emu, reference)
    txn = _transaction(currency=calc["currency"], customer_details=calc["customer_details"],
                       reference=reference, metadata_=metadata(params), shipping_cost=calc["shipping_cost"],
                       tax_date=calc["tax_date"], type_="transaction",
                       posted_at=integer(params, "posted_at", minimum=1))
    items = [_line_item(line, line["amount"], line["amount_tax"], "transaction")
             for line in emu.store["tax_calculation"].meta[calc["id"]]]
    shipping = calc["shipping_cost"]
    _table(emu).add(txn, meta={
        "line_items": items, "reversals": [],
        "remaining": {item["id"]: [item["amount"], item["amount_tax"]] for item in items},
        SHIPPING: [shipping["amount"], shipping["amount_tax"]] if shipping else None})
    return _answer(emu, txn, params)


def _parts(txn, meta):
    """What remains to reverse: (key, amount, tax, inclusive), the lines' then shipping's."""
    lines = {item["id"]: item for item in meta["line_items"]}
    parts = [(li_id, amount, tax, lines[li_id]["tax_behavior"] == "inclusive")
             for li_id, (amount, tax) in meta["remaining"].items()]
    if meta[SHIPPING] is not None:
        amount, tax = meta[SHIPPING]
        parts.append((SHIPPING, amount, tax, txn["shipping_cost"]["tax_behavior"] == "inclusive"))
    return parts


def _total(amount, tax, inclusive):
    return amount if inclusive else amount + tax


def spread(total: int, weights: list) -> list:
    """``total`` split in proportion to ``weights``, in whole units that sum to it exactly (largest remainder)."""
    whole = sum(weights)
    exact = [Decimal(total) * weight / whole for weight in weights]
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares


def _flat_reversal(txn, meta, flat_amount):
    """Per part (amount, tax) given back for a ``flat_amount`` (tax included), in proportion to what remains."""
    parts = _parts(txn, meta)
    weights = [_total(amount, tax, inclusive) for _, amount, tax, inclusive in parts]
    remaining = sum(weights)
    if -flat_amount > remaining:
        raise invalid(f"flat_amount {flat_amount} would reverse more than remains of tax transaction "
                      f"'{txn['id']}': {remaining} (amounts and tax not yet reversed).", param="flat_amount",
                      store=True)
    result = {}
    for (key, amount, tax, inclusive), weight, share in zip(parts, weights, spread(-flat_amount, weights)):
        if share:
            share_tax = round_units(Decimal(share) * tax / weight)
            result[key] = (share if inclusive else share - share_tax, share_tax)
    return result


def _amount_param(value, param):
    if value in (None, ""):
        raise missing(param)
    number = integer({param: value}, param)
    if number > 0:
        raise invalid("A reversal's amounts are negative or zero (what is given back).",
                      code="parameter_invalid_integer", param=param)
    return -number


def _line_reversal(txn, meta, params):
    """Per part (amount, tax) given back, as the request lists them; plus each line's reference, quantity and
    metadata."""
    requested, details = {}, {}
    lines = params.get("line_items") or []
    if not isinstance(lines, list):
        raise invalid("Invalid array", code="parameter_invalid_array", param="line_items")
    references = set()
    for index, line in enumerate(lines):
        prefix = f"line_items[{index}]"
        if not isinstance(line, dict):
            raise invalid("Invalid object", code="parameter_invalid_object", param=prefix)
        for key in line:
            if key not in REVERSAL_LINE_KEYS:
                raise unknown_param(f"{prefix}[{key}]")
        li_id = line.get("original_line_item")
        if not li_id:
            raise missing(f"{prefix}[original_line_item]")
        if li_id not in meta["remaining"]:
            raise invalid(f"The line item '{li_id}' is not part of tax transaction '{txn['id']}'.",
                          code="resource_missing", param=f"{prefix}[original_line_item]")
        reference = string(line, "reference")
        if not reference:
            raise missing(f"{prefix}[reference]")
        if reference in references:
            raise invalid(f"The line item reference '{reference}' is used more than once.",
                          param=f"{prefix}[reference]")
        references.add(reference)
        amount = _amount_param(line.get("amount"), f"{prefix}[amount]")
        tax = _amount_param(line.get("amount_tax"), f"{prefix}[amount_tax]")
        before = requested.get(li_id, (0, 0))
        requested[li_id] = (before[0] + amount, before[1] + tax)
        details.setdefault(li_id, []).append(
            (amount, tax, integer({f"{prefix}[quantity]": line.get("quantity")}, f"{prefix}[quantity]", None, 1),
             reference, metadata(line) if "metadata" in line else None))
    shipping = params.get("shipping_cost")
    if shipping not in (None, ""):
        if not isinstance(shipping, dict):
            raise invalid("Invalid object", code="parameter_invalid_object", param="shipping_cost")
        for key in shipping:
            if key not in ("amount", "amount_tax"):
                raise unknown_param(f"shipping_cost[{key}]")
        if meta[SHIPPING] is None:
            raise invalid(f"Tax transaction '{txn['id']}' has no shipping cost to reverse.", param="shipping_cost")
        requested[SHIPPING] = (_amount_param(shipping.get("amount"), "shipping_cost[amount]"),
                               _amount_param(shipping.get("amount_tax"), "shipping_cost[amount_tax]"))
    for key, (amount, tax) in requested.items():
        left_amount, left_tax = meta[SHIPPING] if key == SHIPPING else meta["remaining"][key]
        if amount > left_amount or tax > left_tax:
            what = "shipping" if key == SHIPPING else f"line item '{key}'"
            raise invalid(f"The reversal of {what} ({-amount}, tax {-tax}) is more than remains of it on tax "
                          f"transaction '{txn['id']}' ({-left_amount}, tax {-left_tax}).",
                          param="shipping_cost" if key == SHIPPING else "line_items", store=True)
    return requested, details


def _full_reversal(txn, meta):
    if meta["reversals"]:
        raise invalid(f"Tax transaction '{txn['id']}' has already been reversed in part ({', '.join(meta['reversals'])}"
                      "); mode=full reverses the whole transaction, so reverse what remains with mode=partial.",
                      param="mode", store=True)
    return {key: (amount, tax) for key, amount, tax, _ in _parts(txn, meta)}


def _reversal_amounts(txn, meta, params):
    mode = require(params, "mode")
    if mode not in ("full", "partial"):
        raise invalid("Invalid mode: must be one of full or partial", code="parameter_invalid_string", param="mode")
    by_line = params.get("line_items") not in (None, "", []) or params.get("shipping_cost") not in (None, "")
    flat = params.get("flat_amount") not in (None, "")
    if mode == "full":
        if flat or by_line:
            raise invalid("flat_amount, line_items and shipping_cost can only be given with mode=partial.",
                          param="flat_amount" if flat else "line_items")
        return _full_reversal(txn, meta), {}
    if flat and by_line:
        raise invalid("flat_amount cannot be given together with line_items or shipping_cost.",
                      param="flat_amount")
    if not flat and not by_line:
        raise invalid("A partial reversal needs flat_amount, or line_items and/or shipping_cost.", param="mode")
    if flat:
        flat_amount = integer(params, "flat_amount")
        if flat_amount >= 0:
            raise invalid("flat_amount is the amount given back, tax included, as a negative number.",
                          code="parameter_invalid_integer", param="flat_amount")
        return _flat_reversal(txn, meta, flat_amount), {}
    return _line_reversal(txn, meta, params)


@routes.post("/v1/tax/transactions/create_reversal")
async def create_reversal(request):
    """`mode=full`, or `partial` by `flat_amount` (negative, tax included; spread over lines and shipping) or
    by `line_items`/`shipping_cost`; never more than remains."""
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, REVERSAL_PARAMS)
    check_expand(params)
    original_id = require(params, "original_transaction")
    reference = string(params, "reference")
    if not reference:
        raise missing("reference")
    txn = _table(emu).require(original_id, "original_transaction")
    if txn["type"] != "transaction":
        raise invalid(f"Tax transaction '{original_id}' is a reversal; only a transaction can be reversed.",
                      param="original_transaction")
    meta = _table(emu).meta[txn["id"]]
    amounts, details = _reversal_amounts(txn, meta, params)
    _check_reference(emu, reference)
    lines = {item["id"]: item for item in meta["line_items"]}
    items = []
    for li_id, line in lines.items():
        for amount, tax, quantity, line_reference, line_metadata in details.get(li_id) or (
                [(*amounts[li_id], None, None, None)] if li_id in amounts else []):
            items.append(_line_item(line, -amount, -tax, "reversal", li_id, quantity, line_reference, line_metadata))
    shipping_cost = None
    if SHIPPING in amounts:
        amount, tax = amounts[SHIPPING]
        shipping_cost = dict(txn["shipping_cost"], amount=-amount, amount_tax=-tax,
                             tax_breakdown=_negated_breakdown(txn["shipping_cost"], amount, tax))
    reversal = _transaction(currency=txn["currency"], customer_details=txn["customer_details"],
                            reference=reference, metadata_=metadata(params), shipping_cost=shipping_cost,
                            tax_date=txn["tax_date"], type_="reversal", original=txn["id"])
    for key, (amount, tax) in amounts.items():
        left = meta[SHIPPING] if key == SHIPPING else meta["remaining"][key]
        left[0] -= amount
        left[1] -= tax
    meta["reversals"].append(reversal["id"])
    _table(emu).add(reversal, meta={"line_items": items})
    return _answer(emu, reversal, params)


def _negated_breakdown(shipping_cost, amount, tax):
    inclusive = shipping_cost["tax_behavior"] == "inclusive"
    return [dict(entry, amount=-tax,
                 taxable_amount=0 if entry["taxable_amount"] == 0 else -(amount - tax if inclusive else amount))
            for entry in shipping_cost.get("tax_breakdown") or []]


def _load(request):
    return _table(request.app["emu"]).require(request.match_info["id"], "transaction")


@routes.get("/v1/tax/transactions/{id}")
async def retrieve(request):
    params = await read_params(request)
    check_known(params, set())
    check_expand(params)
    return _answer(request.app["emu"], _load(request), params)


@routes.get("/v1/tax/transactions/{id}/line_items")
async def line_items(request):
    """The transaction's line items, in order, paginated."""
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before"})
    txn = _load(request)
    items = _table(request.app["emu"]).meta[txn["id"]]["line_items"]
    return respond(paginate(items, params, f"/v1/tax/transactions/{txn['id']}/line_items"))


def recorded(emu, reference=None) -> list:
    """The control API's view: every transaction and reversal, oldest first, with its totals."""
    result = []
    for txn in _table(emu).items.values():
        if reference is not None and txn["reference"] != reference:
            continue
        items = _table(emu).meta[txn["id"]]["line_items"]
        shipping = txn["shipping_cost"] or {"amount": 0, "amount_tax": 0}
        result.append({"id": txn["id"], "type": txn["type"], "reference": txn["reference"],
                       "original_transaction": (txn["reversal"] or {}).get("original_transaction"),
                       "currency": txn["currency"], "created": txn["created"],
                       "amount": sum(item["amount"] for item in items) + shipping["amount"],
                       "amount_tax": sum(item["amount_tax"] for item in items) + shipping["amount_tax"],
                       "metadata": txn["metadata"]})
    return result
