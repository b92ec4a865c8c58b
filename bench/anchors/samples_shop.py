"""A shop shaped like Stripe's samples (accept-a-payment, Flask): a catalog page, and POST /create-payment-intent,
which creates the PaymentIntent inside the request and answers its client secret; the browser then confirms it
with Stripe directly. Run on gunicorn's sync workers, one request per process at a time.
STRIPE_SECRET_KEY and STRIPE_API_BASE (the emulator) come from the environment."""
import os

import stripe
from flask import Flask, jsonify, render_template_string, request

stripe.api_key = os.environ["STRIPE_SECRET_KEY"]
stripe.api_base = os.environ["STRIPE_API_BASE"]

app = Flask(__name__)

PRODUCTS = [{"id": f"product-{n}", "name": f"Product {n}", "price": 1000 + 100 * n} for n in range(12)]
CATALOG = """<!doctype html><title>Shop</title><h1>Shop</h1><ul>
{% for product in products %}<li>{{ product.name }}: ${{ "%d.%02d" | format(product.price // 100,
product.price % 100) }} <button data-id="{{ product.id }}">Buy</button></li>{% endfor %}</ul>"""


def calculate_order_amount(items):
    prices = {product["id"]: product["price"] for product in PRODUCTS}
    return sum(prices.get(item.get("id"), 0) * int(item.get("quantity", 1)) for item in items) or 1400


@app.get("/healthz")
def healthz():
    return "ok"


@app.get("/")
def catalog():
    return render_template_string(CATALOG, products=PRODUCTS)


@app.post("/create-payment-intent")
def create_payment():
    try:
        data = request.get_json()
        intent = stripe.PaymentIntent.create(amount=calculate_order_amount(data["items"]), currency="usd",
                                             automatic_payment_methods={"enabled": True})
        return jsonify(clientSecret=intent["client_secret"])
    except Exception as error:
        return jsonify(error=str(error)), 403
