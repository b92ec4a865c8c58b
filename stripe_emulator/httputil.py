"""Request parsing, JSON responses, ``expand[]`` and list pagination."""

import json

from aiohttp import web

from stripe_emulator import expand as expansion
from stripe_emulator.errors import invalid
from stripe_emulator.formparse import parse_form
from stripe_emulator.objects import list_object
from stripe_emulator.params import expand_list, integer


async def read_params(request) -> dict:
    """Parsed parameters: the query string for GET/DELETE, the form body for POST."""
    if "params" in request:
        return request["params"]
    params = parse_form(request.query_string)
    if request.method == "POST":
        text = await request.text()
        ctype = request.content_type or ""
        if text and ctype == "application/json":
            raise invalid("Invalid request: Stripe expects form-encoded parameters "
                          "(Content-Type: application/x-www-form-urlencoded).")
        body = parse_form(text)
        body.update({k: v for k, v in params.items() if k == "key"})
        params = body
    request["params"] = params
    return params


def dumps(obj) -> str:
    return json.dumps(obj)


def respond(obj, status=200) -> web.Response:
    return web.Response(text=dumps(obj), status=status, content_type="application/json")


def expand(obj: dict, params: dict, emu, fields: dict | None = None) -> dict:
    """``obj`` (an object or a list page) with each ``expand[]`` path expanded; see stripe_emulator/expand.py.

    ``fields`` adds expandable fields of the top-level object (field name -> store kind).
    """
    return expansion.expand(obj, expand_list(params), emu, fields)


def paginate(items_newest_first, params: dict, url: str, keep=lambda obj: True) -> dict:
    limit = integer(params, "limit", 10, minimum=1, maximum=100)
    after = params.get("starting_after")
    before = params.get("ending_before")
    items = (obj for obj in items_newest_first if keep(obj))
    if before:
        newer = []
        for obj in items:
            if obj["id"] == before:
                break
            newer.append(obj)
        else:
            raise invalid(f"No such object: '{before}'", code="resource_missing", param="ending_before")
        page = newer[-limit:]
        return list_object(url, page, len(newer) > limit)
    if after:
        for obj in items:
            if obj["id"] == after:
                break
        else:
            raise invalid(f"No such object: '{after}'", code="resource_missing", param="starting_after")
    page = []
    for obj in items:
        if len(page) == limit:
            return list_object(url, page, True)
        page.append(obj)
    return list_object(url, page, False)


def created_filter(params: dict):
    created = params.get("created")
    if created is None:
        return lambda obj: True
    if isinstance(created, str):
        exact = integer(params, "created")
        return lambda obj: obj["created"] == exact
    if not isinstance(created, dict):
        raise invalid("Invalid created filter", code="parameter_invalid_integer", param="created")
    unknown = set(created) - {"gt", "gte", "lt", "lte"}
    if unknown:
        raise invalid(f"Received unknown parameter: created[{unknown.pop()}]", code="parameter_unknown",
                      param="created")
    bounds = {op: integer(created, op) for op in ("gt", "gte", "lt", "lte") if created.get(op) not in (None, "")}

    def keep(obj):
        c = obj["created"]
        return (("gt" not in bounds or c > bounds["gt"]) and ("gte" not in bounds or c >= bounds["gte"])
                and ("lt" not in bounds or c < bounds["lt"]) and ("lte" not in bounds or c <= bounds["lte"]))
    return keep
