"""The Stripe gateway: the only module that imports `stripe`.

Every call the shop makes to Stripe passes through `Gateway._call`, which decides, in one place:
  * timeouts: connect/read timeouts, shortened to what is left of the shopper's deadline;
  * retries: connection errors, 409, 5xx, `Stripe-Should-Retry: true`, and (unlike stripe-python) 429s and
    `lock_timeout`, with exponential backoff and full jitter, never past the deadline, never when Stripe says
    `Stripe-Should-Retry: false`; every retry of a POST reuses its idempotency key;
  * a bulkhead (a cap on concurrent Stripe calls per process, see `bulkhead_size`) and a circuit breaker
    (app.payments.breaker);
  * the fleet's request rate: a turn from the shared budget (app.payments.rate_limit) before every attempt;
  * error classification: card / transient / configuration / programming, each a `PaymentError`.
"""
from __future__ import annotations

import logging
import random
import resource
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
import stripe
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from app.telemetry import metrics
from app.payments.breaker import Breaker, BreakerOpen
from app.payments.errors import UNAVAILABLE_MESSAGE, PaymentError, classify
from app.payments.rate_limit import StripeRateLimiter

log = logging.getLogger(__name__)

# File descriptors an in-flight Stripe call holds (the shopper's socket, the socket to Stripe), and those a process
# keeps for everything else (its database pool, Redis, logs, the metrics files, the listening socket).
FDS_PER_CALL = 2
FDS_RESERVED = 256
READ_ENDPOINTS = (".retrieve", ".list")  # Stripe counts reads and writes against separate budgets


def _id(object_id: str) -> str:
    """An object id as one path segment (as stripe-python quotes it)."""
    return quote(object_id, safe="")


def bulkhead_size(settings) -> int:
    """Concurrent Stripe calls one process can afford to hold: STRIPE_MAX_CONCURRENCY, cut to what its open-files
    limit allows: a call past it would fail after waiting, where the bulkhead turns it away at once. A call holds
    no database connection while Stripe answers, so the database pool does not bound it (docs/operations.md)."""
    soft_files, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    by_files = (soft_files - FDS_RESERVED) // FDS_PER_CALL if soft_files != resource.RLIM_INFINITY else None
    return max(1, min(n for n in (settings.stripe_max_concurrency, by_files) if n is not None))


@dataclass
class RetryPolicy:
    max_attempts: int = 3  # network-level: connection errors, 409, 5xx
    max_throttled_attempts: int = 6  # 429s, lock timeouts and 409s (a request with this key still in flight)
    base_delay: float = 0.25
    max_delay: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and the exponential cap."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class _Deadline(threading.local):
    at: float | None = None


class _Admission(threading.local):
    """The current thread's shopper request, while `Gateway.admission` holds a bulkhead slot for it."""
    deadline_at: float | None = None


class _SendTracking(threading.local):
    unsent: bool = False  # the last request failed before any byte could have reached Stripe


class TracingAdapter(HTTPAdapter):
    """Notes when a request failed before it was sent (connection refused or not made in time), so that the
    gateway can tell "Stripe never saw this" from "Stripe may have done it"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tracking = _SendTracking()

    def send(self, request, *args, **kwargs):
        self.tracking.unsent = False
        try:
            return super().send(request, *args, **kwargs)
        except requests.exceptions.ConnectTimeout:
            self.tracking.unsent = True
            raise
        except requests.exceptions.ConnectionError as error:
            reason = getattr(error.args[0] if error.args else None, "reason", None)
            self.tracking.unsent = isinstance(reason, NewConnectionError)
            raise


class DeadlineRequestsClient(stripe.RequestsClient):
    """stripe-python's requests client, with the read timeout cut to what is left of the current deadline."""

    def __init__(self, connect_timeout: float, read_timeout: float, pool_size: int, api_base: str):
        session = requests.Session()
        # The proxy settings (HTTPS_PROXY, NO_PROXY) are read from the environment once, here: requests would
        # read the whole environment again on every call (about a quarter of a Stripe call's client CPU), and
        # look in ~/.netrc for credentials to put over Stripe's own. stripe-python names its CA bundle itself.
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(api_base))
        self.adapter = TracingAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", self.adapter)
        session.mount("https://", self.adapter)
        super().__init__(timeout=(connect_timeout, read_timeout), session=session)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self.deadline = _Deadline()

    def _request_internal(self, method, url, headers, post_data, is_streaming):
        read = self._read_timeout
        if self.deadline.at is not None:
            read = max(0.05, min(read, self.deadline.at - time.monotonic()))
        self._timeout = (min(self._connect_timeout, read), read)
        return super()._request_internal(method, url, headers, post_data, is_streaming)


class Gateway:
    """The shop's Stripe client, one per process (see `get_gateway`)."""

    def __init__(self, settings, retry: RetryPolicy | None = None):
        self.settings = settings
        self.retry = retry or RetryPolicy(max_attempts=settings.stripe_max_network_retries + 1)
        self.concurrency = bulkhead_size(settings)
        self.http = DeadlineRequestsClient(settings.stripe_connect_timeout, settings.stripe_read_timeout,
                                           pool_size=self.concurrency,
                                           api_base=settings.stripe_api_base or stripe.DEFAULT_API_BASE)
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        # Retries are done by `_call` (stripe-python's own would ignore 429s and the deadline).
        self.client = stripe.StripeClient(settings.stripe_secret_key or "sk_unset", base_addresses=base,
                                          max_network_retries=0, http_client=self.http)
        self.bulkhead = threading.BoundedSemaphore(self.concurrency)
        self.rate_limiter = StripeRateLimiter.from_settings(settings)
        self.admitted = _Admission()
        self.breaker = Breaker(fail_max=settings.breaker_fail_max, reset_timeout=settings.breaker_reset_timeout,
                               counts=lambda e: isinstance(e, PaymentError) and e.kind == "transient")

    @contextmanager
    def admission(self, deadline: float | None = None):
        """One shopper request's share of Stripe: a single bulkhead slot and a single deadline for all the calls
        it makes (the token read when it must be, then the create-and-confirm). Refused at once, before the shop
        does any work for the request, when every slot is taken or the breaker is open and not yet due for a
        probe."""
        if self.breaker.refusing():
            metrics.STRIPE_ERRORS.labels("unavailable").inc()
            raise PaymentError("unavailable", UNAVAILABLE_MESSAGE, status=503, code="circuit_open")
        if not self.bulkhead.acquire(blocking=False):
            metrics.STRIPE_ERRORS.labels("unavailable").inc()
            raise PaymentError("unavailable", UNAVAILABLE_MESSAGE, status=503, code="bulkhead_full")
        self.admitted.deadline_at = time.monotonic() + (deadline or self.settings.checkout_deadline)
        try:
            yield
        finally:
            self.admitted.deadline_at = None
            self.bulkhead.release()

    # ---- the calls the shop makes -------------------------------------------------------------
    def payment_intent_params(self, *, amount: int, currency: str, metadata: dict, capture_method: str = "automatic",
                              shipping: dict | None = None) -> dict[str, Any]:
        # the methods named, as the checkout's Payment Element names them (deferred-intent mode must match)
        params: dict[str, Any] = {"amount": amount, "currency": currency, "metadata": metadata,
                                  "payment_method_types": list(self.settings.payment_method_types)}
        if capture_method == "manual":  # authorise now, capture at dispatch (CAPTURE=manual)
            params["capture_method"] = "manual"
        if shipping:
            params["shipping"] = shipping
        return params

    def create_payment_intent(self, *, amount: int, currency: str, metadata: dict, idempotency_key: str,
                              deadline: float | None = None, capture_method: str = "automatic",
                              shipping: dict | None = None) -> dict:
        params = self.payment_intent_params(amount=amount, currency=currency, metadata=metadata,
                                            capture_method=capture_method, shipping=shipping)
        return self.send_payment_intent(params, idempotency_key=idempotency_key, deadline=deadline)

    def send_payment_intent(self, params: dict, *, idempotency_key: str, deadline: float | None = None) -> dict:
        """`POST /v1/payment_intents` with exactly these parameters: with `confirm=true` and a ConfirmationToken it
        creates and confirms in one round trip. Sent again with the same key and parameters, Stripe replays its
        stored answer instead of paying twice."""
        return self._call("payment_intents.create", "post", "/v1/payment_intents", params, idempotency_key, deadline)

    def confirm(self, payment_intent_id: str, *, confirmation_token: str, idempotency_key: str,
                return_url: str, deadline: float | None = None) -> dict:
        # the payment method comes back whole: its brand and last four are what the receipt shows
        params = {"confirmation_token": confirmation_token, "return_url": return_url, "expand": ["payment_method"]}
        return self._call("payment_intents.confirm", "post", f"/v1/payment_intents/{_id(payment_intent_id)}/confirm",
                          params, idempotency_key, deadline)

    def retrieve_confirmation_token(self, confirmation_token: str) -> dict:
        """The token as Stripe holds it: its `shipping` is the address the shopper entered in the Address Element."""
        return self._call("confirmation_tokens.retrieve", "get",
                          f"/v1/confirmation_tokens/{_id(confirmation_token)}")

    def create_tax_calculation(self, params: dict, *, deadline: float | None = None) -> dict:
        """A Stripe Tax calculation (`POST /v1/tax/calculations`); it changes nothing, so it needs no key."""
        params = {**params, "expand": ["line_items"]}
        return self._call("tax.calculations.create", "post", "/v1/tax/calculations", params, None, deadline)

    def create_tax_transaction(self, calculation_id: str, *, reference: str, idempotency_key: str,
                               metadata: dict | None = None) -> dict:
        """Record the tax of a paid order (Stripe Tax's transaction, from the calculation the shopper paid)."""
        params: dict[str, Any] = {"calculation": calculation_id, "reference": reference}
        if metadata:
            params["metadata"] = metadata
        return self._call("tax.transactions.create_from_calculation", "post",
                          "/v1/tax/transactions/create_from_calculation", params, idempotency_key)

    def reverse_tax_transaction(self, transaction_id: str, *, reference: str, idempotency_key: str,
                                flat_amount: int | None = None) -> dict:
        """Reverse a recorded tax transaction: in full, or by `flat_amount` (minor units refunded, tax included)."""
        params: dict[str, Any] = {"original_transaction": transaction_id, "reference": reference,
                                  "mode": "full" if flat_amount is None else "partial"}
        if flat_amount is not None:
            params["flat_amount"] = -abs(flat_amount)  # Stripe wants the amount given back as a negative number
        return self._call("tax.transactions.create_reversal", "post", "/v1/tax/transactions/create_reversal",
                          params, idempotency_key)

    def cancel_payment_intent(self, payment_intent_id: str, *, idempotency_key: str) -> dict:
        return self._call("payment_intents.cancel", "post", f"/v1/payment_intents/{_id(payment_intent_id)}/cancel",
                          None, idempotency_key)

    def capture_payment_intent(self, payment_intent_id: str, *, amount: int, idempotency_key: str) -> dict:
        return self._call("payment_intents.capture", "post", f"/v1/payment_intents/{_id(payment_intent_id)}/capture",
                          {"amount_to_capture": amount}, idempotency_key)

    def retrieve_payment_intent(self, payment_intent_id: str, expand: tuple[str, ...] = ()) -> dict:
        return self._call("payment_intents.retrieve", "get", f"/v1/payment_intents/{_id(payment_intent_id)}",
                          {"expand": list(expand)} if expand else None)

    def refund(self, payment_intent_id: str, *, amount: int | None, idempotency_key: str,
               metadata: dict | None = None) -> dict:
        params: dict[str, Any] = {"payment_intent": payment_intent_id}
        if amount:
            params["amount"] = amount
        if metadata:
            params["metadata"] = metadata
        return self._call("refunds.create", "post", "/v1/refunds", params, idempotency_key)

    def retrieve_dispute(self, dispute_id: str) -> dict:
        return self._call("disputes.retrieve", "get", f"/v1/disputes/{_id(dispute_id)}")

    def submit_dispute_evidence(self, dispute_id: str, *, evidence: dict[str, str], idempotency_key: str) -> dict:
        """Send the evidence and submit it to the bank at once (Stripe's `submit=true`)."""
        params: dict[str, Any] = {"evidence": evidence, "submit": True}
        return self._call("disputes.update", "post", f"/v1/disputes/{_id(dispute_id)}", params, idempotency_key)

    def list_events(self, *, created_gte: int, starting_after: str | None = None, limit: int = 100) -> dict:
        params: dict[str, Any] = {"created": {"gte": created_gte}, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        return self._call("events.list", "get", "/v1/events", params)

    # ---- the one place that decides timeouts, retries and errors ------------------------------
    def _call(self, endpoint: str, method: str, path: str, params: dict | None = None,
              idempotency_key: str | None = None, deadline: float | None = None) -> dict:
        """Send one request to Stripe (retried as above) and answer its JSON object as plain dicts and lists: the
        shop reads fields, so stripe-python's objects would only cost CPU (building them, then `to_dict`)."""
        admitted_until = self.admitted.deadline_at
        if admitted_until is not None:  # inside `admission`: its slot and its deadline cover this call
            deadline_at = admitted_until
        elif not self.bulkhead.acquire(blocking=False):
            metrics.STRIPE_ERRORS.labels("unavailable").inc()
            raise PaymentError("unavailable", UNAVAILABLE_MESSAGE, status=503, code="bulkhead_full")
        else:
            deadline_at = time.monotonic() + (deadline or self.settings.checkout_deadline)
        try:
            # the first attempt's turn is taken outside the breaker: a refusal says nothing about Stripe's health
            if not self.breaker.refusing() and not self._take_turn(endpoint, deadline_at):
                metrics.STRIPE_ERRORS.labels("unavailable").inc()
                log.warning("stripe call refused endpoint=%s: over the shop's Stripe request rate", endpoint)
                raise PaymentError("unavailable", UNAVAILABLE_MESSAGE, status=503, code="rate_limited")
            with self.breaker.guard():
                return self._with_retries(endpoint, lambda options: self.client.raw_request(
                    method, path, **(params or {}), **options).data, idempotency_key, deadline_at)
        except BreakerOpen:
            metrics.STRIPE_ERRORS.labels("unavailable").inc()
            raise PaymentError("unavailable", UNAVAILABLE_MESSAGE, status=503, code="circuit_open") from None
        finally:
            if admitted_until is None:
                self.bulkhead.release()

    def _take_turn(self, endpoint: str, deadline_at: float) -> bool:
        """A turn from the fleet's Stripe request budget, waited for briefly and never past the deadline."""
        budget = "read" if endpoint.endswith(READ_ENDPOINTS) else "write"
        wait_until = min(time.monotonic() + self.settings.stripe_rate_limit_wait, deadline_at - 0.05)
        return self.rate_limiter.take(budget, wait_until)

    def _with_retries(self, endpoint, send, idempotency_key, deadline_at: float) -> dict:
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        attempt = network_failures = throttled = 0
        maybe_executed = False
        failure = None
        while True:
            attempt += 1
            if failure is not None and not self._take_turn(endpoint, deadline_at):
                # no turn for the retry in time: the last attempt's failure stands (it may have been executed)
                metrics.STRIPE_ERRORS.labels(failure.kind).inc()
                _log_failure(endpoint, failure, attempt - 1)
                raise failure from None
            started = time.monotonic()
            self.http.deadline.at = deadline_at
            try:
                result = send(options)
                metrics.STRIPE_REQUESTS.labels(endpoint, "ok").inc()
                metrics.STRIPE_LATENCY.labels(endpoint).observe(time.monotonic() - started)
                return result
            except stripe.StripeError as error:
                metrics.STRIPE_LATENCY.labels(endpoint).observe(time.monotonic() - started)
                failure = classify(error)
                maybe_executed = maybe_executed or _maybe_executed(error, self.http.adapter.tracking.unsent)
                failure.maybe_executed = maybe_executed
                metrics.STRIPE_REQUESTS.labels(endpoint, failure.kind).inc()
                retry_kind = _retry_kind(error)
                if retry_kind == "throttled":
                    throttled += 1
                    allowed = throttled < self.retry.max_throttled_attempts
                else:
                    network_failures += 1
                    allowed = retry_kind == "network" and network_failures < self.retry.max_attempts
                pause = self.retry.backoff(attempt)
                if not allowed or time.monotonic() + pause >= deadline_at - 0.05:
                    metrics.STRIPE_ERRORS.labels(failure.kind).inc()
                    _log_failure(endpoint, failure, attempt)
                    raise failure from None
                metrics.STRIPE_RETRIES.labels(endpoint, retry_kind).inc()
                log.info("stripe retry endpoint=%s attempt=%d reason=%s pause=%.3f", endpoint, attempt,
                         type(error).__name__, pause)
                time.sleep(pause)
            finally:
                self.http.deadline.at = None

    @property
    def breaker_state(self) -> str:
        return self.breaker.state


def _maybe_executed(error: stripe.StripeError, unsent: bool) -> bool:
    """Whether Stripe may have carried out a request that ended in `error` (see PaymentError)."""
    if isinstance(error, stripe.APIConnectionError):
        return not unsent
    status = error.http_status or 0
    return status >= 500 or (status == 409 and error.code != "lock_timeout")


def _retry_kind(error: stripe.StripeError) -> str | None:
    """'network', 'throttled' (wait and retry) or None (do not retry), following Stripe's documented signals."""
    should_retry = (error.headers or {}).get("stripe-should-retry") if error.headers else None
    if should_retry == "false":
        return None
    if error.http_status in (409, 429) or error.code == "lock_timeout":
        return "throttled"
    if should_retry == "true":
        return "network"
    if isinstance(error, stripe.APIConnectionError):
        return "network" if getattr(error, "should_retry", True) else None
    if (error.http_status or 0) >= 500:
        return "network"
    return None


def _log_failure(endpoint: str, failure: PaymentError, attempts: int) -> None:
    level = {"configuration": logging.ERROR, "programming": logging.ERROR,
             "conflict": logging.INFO}.get(failure.kind, logging.WARNING)
    log.log(level, "stripe call failed endpoint=%s kind=%s code=%s request_id=%s attempts=%d", endpoint,
            failure.kind, failure.code, failure.request_id, attempts)


_lock = threading.Lock()


def get_gateway(app) -> Gateway:
    """The process's gateway for this app (one connection pool, one breaker, one bulkhead)."""
    gateway = app.extensions.get("stripe_gateway")
    if gateway is None:
        with _lock:
            gateway = app.extensions.setdefault("stripe_gateway", Gateway(app.config["SETTINGS"]))
    return gateway
