"""Stripe: the gateway (timeouts, retries, idempotency keys, deadline, bulkhead), its errors, webhook signatures,
the circuit breaker. Only this package imports `stripe`."""
from app.payments.errors import GENERIC_MESSAGE, UNAVAILABLE_MESSAGE, PaymentError, classify, decline_message
from app.payments.gateway import Gateway, RetryPolicy, get_gateway
from app.payments.signatures import WebhookSignatureError, verify_webhook

__all__ = ["GENERIC_MESSAGE", "UNAVAILABLE_MESSAGE", "Gateway", "PaymentError", "RetryPolicy", "WebhookSignatureError",
           "classify", "decline_message", "get_gateway", "verify_webhook"]
