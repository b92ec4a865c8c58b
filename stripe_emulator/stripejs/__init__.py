"""Static Stripe.js look-alike: the loader script and the iframe documents it opens."""

from pathlib import Path

from aiohttp import web

HERE = Path(__file__).parent
FILES = {
    "stripe.js": "application/javascript",
    "elements-inner-payment.html": "text/html",
    "elements-inner-payment.js": "application/javascript",
    "elements-inner-payment.css": "text/css",
    "elements-inner-address.html": "text/html",
    "elements-inner-address.js": "application/javascript",
    "elements-appearance.js": "application/javascript",
    "three-d-secure.html": "text/html",
    "three-d-secure.js": "application/javascript",
}
# The iframe documents run on the emulator origin with their own strict CSP.
FRAME_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
             "form-action 'none'; base-uri 'none'")

routes = web.RouteTableDef()


def _serve(name):
    headers = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
    if FILES[name] == "text/html":
        headers["Content-Security-Policy"] = FRAME_CSP
    body = (HERE / name).read_bytes()
    return web.Response(body=body, content_type=FILES[name], charset="utf-8", headers=headers)


@routes.get("/v3")
@routes.get("/v3/")
async def loader(request):
    return _serve("stripe.js")


@routes.get("/v3/{name}")
async def asset(request):
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return _serve(name)
