"""What an intent that needs 3-D Secure asks its client to do next: ``use_stripe_sdk`` or ``redirect_to_url``.

As Stripe documents: a confirmation made for Stripe.js or a mobile SDK (``use_stripe_sdk=true``, or a
ConfirmationToken, which carries ``use_stripe_sdk: true``) gets ``use_stripe_sdk``, which
``stripe.handleNextAction`` handles in a modal. A server-side confirmation with a ``return_url`` and without
``use_stripe_sdk`` gets ``redirect_to_url``: the shopper's browser opens ``url``, authenticates, and is sent
back to ``return_url``. Without either, Stripe answers ``use_stripe_sdk`` (there is nowhere to redirect to).
"""

from urllib.parse import urlencode

from stripe_emulator.errors import invalid
from stripe_emulator.params import boolean


def three_ds_next_action(request, intent, pm, card, params) -> dict:
    """The next action for ``intent`` (a PaymentIntent or SetupIntent dict); remembers where to send the shopper
    back to after a redirect."""
    base = request.app["public_origin"]
    return_url = params.get("return_url")
    if return_url is not None and not isinstance(return_url, str):
        raise invalid("Invalid URL: return_url must be a string.", param="return_url")
    uses_sdk = boolean(params, "use_stripe_sdk", default=bool(params.get("confirmation_token")))
    if return_url and not uses_sdk:
        request.app["emu"].store[intent["object"]].meta[intent["id"]] = return_url
        query = urlencode({"client_secret": intent["client_secret"]})
        return {"type": "redirect_to_url",
                "redirect_to_url": {"return_url": return_url,
                                    "url": f"{base}/redirect/authenticate/{intent['id']}?{query}"}}
    return {"type": "use_stripe_sdk", "use_stripe_sdk": {
        "type": "three_d_secure_redirect", "source": pm["id"],
        "stripe_js": f"{base}/v3/three-d-secure.html?{intent['object']}={intent['id']}",
        "directory_server_name": card.brand, "three_d_secure_2_source": pm["id"]}}
