"""Parameter parsing shared by the PaymentIntent routes."""

from stripe_emulator.errors import invalid
from stripe_emulator.params import integer, metadata, require, string

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
              "processing")
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")

CONFIRM_PARAMS = {"confirmation_token", "payment_method", "return_url", "receipt_email", "shipping",
                  "setup_future_usage", "use_stripe_sdk", "payment_method_options", "payment_method_types",
                  "mandate_data", "off_session", "error_on_requires_action", "capture_method",
                  "payment_method_data", "radar_options", "client_secret", "key"}
CREATE_PARAMS = CONFIRM_PARAMS | {
    "amount", "currency", "confirm", "metadata", "automatic_payment_methods", "capture_method",
    "description", "statement_descriptor", "statement_descriptor_suffix", "customer", "confirmation_method",
    "transfer_group", "on_behalf_of", "application_fee_amount", "excluded_payment_method_types",
    "payment_method_configuration", "transfer_data", "amount_details"} - {"client_secret", "key"}
UPDATE_PARAMS = {"amount", "currency", "metadata", "description", "receipt_email", "shipping", "payment_method",
                 "capture_method", "setup_future_usage", "statement_descriptor", "statement_descriptor_suffix",
                 "payment_method_options", "payment_method_types", "transfer_group", "customer",
                 "application_fee_amount", "excluded_payment_method_types", "payment_method_configuration",
                 "amount_details"}


def amount_param(params, name="amount"):
    amount = integer(params, name)
    if amount is None:
        raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
    if amount < 1:
        raise invalid("This value must be greater than or equal to 1.", code="parameter_invalid_integer",
                      param=name)
    if amount > 99999999:
        raise invalid("Amount must be no more than $999,999.99", code="amount_too_large", param=name)
    return amount


def check_minimum(amount, currency):
    if currency == "usd" and amount < 50:
        raise invalid("Amount must be at least $0.50 usd", code="amount_too_small", param="amount")


def currency_param(params):
    currency = str(require(params, "currency")).lower()
    if len(currency) != 3 or not currency.isalpha():
        raise invalid(f"Invalid currency: {currency}.", code="parameter_invalid_string", param="currency")
    return currency


def capture_method_param(params, default):
    value = params.get("capture_method") or default
    if value not in ("automatic", "automatic_async", "manual"):
        raise invalid("Invalid capture_method: must be one of automatic, automatic_async, or manual",
                      code="parameter_invalid_string", param="capture_method")
    return value


def apply_common(pi, params):
    for name in ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
                 "setup_future_usage", "transfer_group", "customer"):
        if name in params:
            pi[name] = string(params, name)
    if "shipping" in params:
        pi["shipping"] = params["shipping"] or None
    if "metadata" in params:
        pi["metadata"] = metadata(params, pi["metadata"])
    if isinstance(params.get("payment_method_types"), list):
        pi["payment_method_types"] = params["payment_method_types"]
