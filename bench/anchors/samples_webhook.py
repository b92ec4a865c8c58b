"""A webhook endpoint shaped like Stripe's samples: the signature checked on the raw body and 200, nothing
stored, nothing queued (the samples leave fulfilment to the reader). STRIPE_WEBHOOK_SECRET as in the samples."""
import os

import stripe
from flask import Flask, jsonify, request

app = Flask(__name__)
endpoint_secret = os.environ["STRIPE_WEBHOOK_SECRET"]


@app.get("/healthz")
def healthz():
    return "ok"


@app.post("/webhook")
def webhook():
    try:
        event = stripe.Webhook.construct_event(request.data, request.headers.get("Stripe-Signature"),
                                               endpoint_secret)
    except (ValueError, stripe.SignatureVerificationError):
        return jsonify(error="invalid payload or signature"), 400
    return jsonify(success=True, type=event["type"])
