"""Stripe's error envelope and the exception handlers raise to produce it."""

DOC_BASE = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error answered with Stripe's envelope.

    ``store`` says whether an idempotent request that failed this way keeps the
    result (Stripe does not store validation failures, 401s or 429s).
    """

    def __init__(self, status, type_, message, *, code=None, param=None, decline_code=None,
                 payment_intent=None, extra=None, headers=None, store=True):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.payment_intent = payment_intent
        self.extra = extra or {}
        self.headers = headers or {}
        self.store = store

    def body(self, request_id: str) -> dict:
        err = {"type": self.type, "message": self.message}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = DOC_BASE + self.code.replace("_", "-")
        if self.decline_code:
            err["decline_code"] = self.decline_code
        if self.param:
            err["param"] = self.param
        if self.payment_intent is not None:
            err["payment_intent"] = self.payment_intent
        err.update(self.extra)
        err["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
        return {"error": err}


def invalid(message, *, code=None, param=None, status=400, store=False):
    return StripeError(status, "invalid_request_error", message, code=code, param=param, store=store)


def missing(param):
    return invalid(f"Missing required param: {param}.", code="parameter_missing", param=param)


def unknown_param(param):
    return invalid(f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def no_such(kind, obj_id, param="id"):
    return StripeError(404, "invalid_request_error", f"No such {kind}: '{obj_id}'",
                       code="resource_missing", param=param)


def api_error(status=500, message="An unknown error occurred", headers=None):
    return StripeError(status, "api_error", message, headers=headers)
