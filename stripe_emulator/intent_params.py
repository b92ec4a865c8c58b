"""Parameter parsing shared by the PaymentIntent routes."""

import re

from stripe_emulator import shipping
from stripe_emulator.currencies import check_amount, currency_code
from stripe_emulator.errors import invalid
from stripe_emulator.params import integer, metadata, require, string

CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
              "processing")
UPDATABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
# Fields Stripe lets an integration update whatever the PaymentIntent's status (e.g. after it succeeded).
UPDATABLE_IN_ANY_STATUS = {"metadata", "description", "receipt_email", "shipping", "expand"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SUFFIX_MAX = 22

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
    check_amount(amount, currency)


def currency_param(params):
    return currency_code(require(params, "currency"))


def check_strings(params):
    email = params.get("receipt_email")
    if email not in (None, "") and (not isinstance(email, str) or not EMAIL.match(email)):
        raise invalid(f"Invalid email address: {email}", code="email_invalid", param="receipt_email")
    suffix = params.get("statement_descriptor_suffix")
    if suffix not in (None, ""):
        if not isinstance(suffix, str) or len(suffix) > SUFFIX_MAX:
            raise invalid(f"Invalid string: {suffix!s:.40}...; must be at most {SUFFIX_MAX} characters",
                          code="parameter_invalid_string", param="statement_descriptor_suffix")
        if not any(ch.isalpha() for ch in suffix) or any(ch in "<>\\'\"*" for ch in suffix):
            raise invalid("The statement descriptor suffix must contain at least one letter and none of "
                          "< > \\ ' \" *.", code="parameter_invalid_string", param="statement_descriptor_suffix")


def capture_method_param(params, default):
    value = params.get("capture_method") or default
    if value not in ("automatic", "automatic_async", "manual"):
        raise invalid("Invalid capture_method: must be one of automatic, automatic_async, or manual",
                      code="parameter_invalid_string", param="capture_method")
    return value


def apply_common(pi, params):
    check_strings(params)
    for name in ("description", "receipt_email", "statement_descriptor", "statement_descriptor_suffix",
                 "setup_future_usage", "transfer_group", "customer"):
        if name in params:
            pi[name] = string(params, name)
    if "shipping" in params:
        pi["shipping"] = shipping.parse(params["shipping"])
    if "metadata" in params:
        pi["metadata"] = metadata(params, pi["metadata"])
    if isinstance(params.get("payment_method_types"), list):
        pi["payment_method_types"] = params["payment_method_types"]
