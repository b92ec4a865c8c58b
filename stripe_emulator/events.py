"""Event and WebhookEndpoint routes."""

from aiohttp import web

from stripe_emulator import event_types, objects, versions
from stripe_emulator.errors import invalid
from stripe_emulator.httputil import created_filter, paginate, read_params, respond
from stripe_emulator.params import check_known, metadata, require, string
from stripe_emulator.signing import new_secret

routes = web.RouteTableDef()


@routes.get("/v1/events")
async def list_events(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before", "created", "type", "types",
                         "delivery_success"})
    wanted = params.get("types")
    if isinstance(wanted, str):
        wanted = [wanted]
    one = string(params, "type")
    if one and wanted:
        raise invalid("You cannot specify both `type` and `types`.", param="types")
    by_created = created_filter(params)

    def keep(evt):
        if one and not _type_matches(evt["type"], one):
            return False
        if wanted and evt["type"] not in wanted:
            return False
        return by_created(evt)
    return respond(paginate(request.app["emu"].store["event"].newest_first(), params, "/v1/events", keep))


def _type_matches(event_type, pattern):
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


@routes.get("/v1/events/{id}")
async def get_event(request):
    await read_params(request)
    return respond(request.app["emu"].store["event"].require(request.match_info["id"]))


def register_endpoint(emu, url, enabled_events, secret=None, description=None, meta=None, api_version=None):
    we = objects.webhook_endpoint(url, enabled_events, description, meta, api_version)
    secret = secret or new_secret()
    emu.store["webhook_endpoint"].add(we, meta=secret)
    return we, secret


def _enabled_events(params):
    events = params.get("enabled_events")
    if isinstance(events, str):
        events = [events]
    if not events or not isinstance(events, list):
        raise invalid("Missing required param: enabled_events.", code="parameter_missing", param="enabled_events")
    return event_types.check(events)


@routes.post("/v1/webhook_endpoints")
async def create_endpoint(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"url", "enabled_events", "description", "metadata", "api_version", "connect"})
    url = require(params, "url")
    if not isinstance(url, str):
        raise invalid("Invalid string", code="parameter_invalid_string", param="url")
    if not url.startswith(("http://", "https://")):
        raise invalid(f"Invalid URL: {url}. URLs must begin with http:// or https://", param="url")
    api_version = versions.check(params["api_version"], "api_version") if params.get("api_version") else None
    we, secret = register_endpoint(emu, url, _enabled_events(params), description=string(params, "description"),
                                   meta=metadata(params), api_version=api_version)
    return respond(dict(we, secret=secret))


@routes.post("/v1/webhook_endpoints/{id}")
async def update_endpoint(request):
    emu = request.app["emu"]
    params = await read_params(request)
    check_known(params, {"url", "enabled_events", "description", "metadata", "disabled"})
    we = emu.store["webhook_endpoint"].require(request.match_info["id"])
    if "url" in params:
        we["url"] = string(params, "url") or we["url"]
    if "enabled_events" in params:
        we["enabled_events"] = _enabled_events(params)
    if "description" in params:
        we["description"] = string(params, "description")
    if "disabled" in params:
        we["status"] = "disabled" if params["disabled"] == "true" else "enabled"
    we["metadata"] = metadata(params, we["metadata"])
    return respond(we)


@routes.get("/v1/webhook_endpoints/{id}")
async def get_endpoint(request):
    await read_params(request)
    return respond(request.app["emu"].store["webhook_endpoint"].require(request.match_info["id"]))


@routes.get("/v1/webhook_endpoints")
async def list_endpoints(request):
    params = await read_params(request)
    check_known(params, {"limit", "starting_after", "ending_before"})
    table = request.app["emu"].store["webhook_endpoint"]
    return respond(paginate(table.newest_first(), params, "/v1/webhook_endpoints"))


@routes.delete("/v1/webhook_endpoints/{id}")
async def delete_endpoint(request):
    await read_params(request)
    table = request.app["emu"].store["webhook_endpoint"]
    we = table.require(request.match_info["id"])
    table.delete(we["id"])
    return respond({"id": we["id"], "object": "webhook_endpoint", "deleted": True})
