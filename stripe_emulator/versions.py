"""The ``Stripe-Version`` header: checked, and echoed on every API response.

Without the header the account's default applies, pinned to the version stripe-python 16 sends
(``stripe_emulator.API_VERSION``). A well-formed version the emulator does not know is refused as Stripe
refuses an unknown one. The emulator behaves the same whatever known version is asked for.
"""

import re

from aiohttp import web

from stripe_emulator import API_VERSION
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.idempotency import error_response

FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
# Stripe's dated versions the emulator accepts (not Stripe's whole list: older ones are refused).
KNOWN = frozenset("""
2017-08-15 2018-02-28 2018-05-21 2018-09-24 2018-11-08 2019-02-19 2019-03-14 2019-05-16 2019-08-14 2019-09-09
2019-10-08 2019-10-17 2019-11-05 2019-12-03 2020-03-02 2020-08-27 2022-08-01 2022-11-15 2023-08-16 2023-10-16
2024-04-10 2024-06-20 2024-09-30.acacia 2024-10-28.acacia 2024-11-20.acacia 2024-12-18.acacia 2025-01-27.acacia
2025-02-24.acacia 2025-03-31.basil 2025-04-30.basil 2025-05-28.basil 2025-06-30.basil 2025-07-30.basil
2025-08-27.basil 2025-09-30.clover 2025-10-29.clover
""".split()) | {API_VERSION}


def check(version, param="Stripe-Version") -> str:
    if not isinstance(version, str) or not FORMAT.match(version) or version not in KNOWN:
        raise invalid(f"Invalid Stripe API version: {version!s:.60}", param=param)
    return version


@web.middleware
async def version_middleware(request, handler):
    if not request.path.startswith("/v1/"):
        return await handler(request)
    header = request.headers.get("Stripe-Version")
    try:
        version = API_VERSION if header is None else check(header)
        resp = await handler(request)
    except StripeError as exc:
        version = API_VERSION if header is None or exc.param == "Stripe-Version" else header
        resp = error_response(exc, request["request_id"])
    resp.headers["Stripe-Version"] = version
    return resp
