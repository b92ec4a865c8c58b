"""Prometheus metrics, defined once.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it) every process writes its values to files there,
named by host and pid so that several containers may share one directory (docker-compose.yml shares it between
the web and worker containers), and /metrics in any web process sums them all.
"""
import os
import socket

from prometheus_client import Counter, Gauge, Histogram, values


HOST = socket.gethostname().replace("_", "-")


def process_identifier() -> str:
    """Names this process's metric files: '<host>-<pid>' (a pid alone repeats across containers), or in an RQ
    job '<host>-rq-<worker name>': RQ forks a process per job, one at a time per worker, so the jobs of a worker
    share its files instead of leaving a set of files per job."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None and job.worker_name:
        return f"{HOST}-rq-{job.worker_name.replace('_', '-')}"
    return f"{HOST}-{os.getpid()}"


if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the prometheus client's own switch, read before any metric
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier)

STRIPE_REQUESTS = Counter("shop_stripe_requests_total", "Stripe API calls by endpoint and outcome",
                          ["endpoint", "outcome"])
STRIPE_RETRIES = Counter("shop_stripe_retries_total", "Stripe API retries by endpoint and reason",
                         ["endpoint", "reason"])
STRIPE_LATENCY = Histogram("shop_stripe_request_seconds", "Stripe API call latency", ["endpoint"],
                           buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16))
STRIPE_ERRORS = Counter("shop_stripe_errors_total", "Failed Stripe calls by error class", ["kind"])
BREAKER_STATE = Gauge("shop_stripe_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                      multiprocess_mode="max")
WEBHOOK_EVENTS = Counter("shop_webhook_events_total", "Webhook deliveries by event type and result",
                         ["type", "result"])
WEBHOOK_ACK = Histogram("shop_webhook_ack_seconds", "Time to acknowledge a webhook delivery",
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
WEBHOOK_DUPLICATES = Counter("shop_webhook_duplicates_total", "Webhook deliveries of an event already stored")
EVENTS_PROCESSED = Counter("shop_events_processed_total", "Events applied by workers, by type and result",
                           ["type", "result"])
EVENT_AGE = Histogram("shop_event_processing_age_seconds", "From an event's receipt to its processing",
                      buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60, 300))
EVENT_BATCH = Histogram("shop_event_batch_size", "Events a worker applied in one transaction",
                        buckets=(1, 2, 5, 10, 20, 50, 100))
IDEMPOTENT_REPLAYS = Counter("shop_checkout_replays_total", "Confirm requests answered from a stored attempt")
HOLDS_REFUSED = Counter("shop_stock_holds_refused_total", "Checkouts refused for holding too much unpaid stock, by "
                        "the cap reached", ["reason"])
HOLDS_RELEASED = Counter("shop_stock_holds_released_total", "Unpaid orders' stock given back before expiry, by why",
                         ["reason"])
STOCK_SHORTFALL = Counter("shop_stock_shortfall_units_total", "Units a paid order needed that stock no longer had")
ORDERS = Counter("shop_order_transitions_total", "Order state transitions", ["to_state"])
CSP_REPORTS = Counter("shop_csp_reports_total", "CSP violation reports received", ["directive"])
CSP_PAYMENT_PAGE_VIOLATIONS = Counter("shop_csp_payment_page_violations_total",
                                      "New kinds of CSP violation on a payment page (always stored)", ["directive"])
CSP_KINDS_LOST = Counter("shop_csp_kinds_lost_total", "CSP violation kinds not kept: evicted past the cap for a "
                         "newer kind, or dropped (the table is full of payment-page kinds)", ["reason"])
HTTP_REQUESTS = Counter("shop_http_requests_total", "HTTP responses by route and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("shop_http_request_seconds", "Time to answer an HTTP request", ["route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
ADMIN_LOGINS = Counter("shop_admin_logins_total", "Admin login attempts by result (ok, failed, locked, not_counted)",
                       ["result"])
REFUNDS = Counter("shop_refunds_total", "Refunds requested from the admin, by outcome", ["outcome"])
SETTLEMENTS = Counter("shop_settlements_total", "Captures and voids of authorisations, by action and outcome",
                      ["action", "outcome"])
TAX_RECORDS = Counter("shop_tax_records_total", "Stripe Tax transactions and reversals recorded for paid orders "
                      "and refunds, by kind (transaction, reversal) and outcome (recorded, retry, refused)",
                      ["kind", "outcome"])
EVENT_REPLAYS = Counter("shop_event_replays_total", "Stored events replayed by a person (admin or shop replay)")
RECEIPTS_PARKED = Counter("shop_receipts_parked_total", "Receipts never sent: the stored address is not one mailbox")
EVENT_PAYLOADS_PRUNED = Counter("shop_event_payloads_pruned_total",
                                "Stored Stripe event payloads removed after the retention period")
JOB_RETRIES = Counter("shop_failed_job_retries_total", "Failed RQ jobs requeued by a person", ["queue"])

# Computed at scrape time from Redis and the database (app/ops/), so they are right under any number of
# processes: shop_queue_depth, shop_queue_oldest_job_age_seconds, shop_failed_jobs, shop_orders, shop_events,
# shop_event_oldest_pending_age_seconds, shop_csp_reports_stored, shop_stock_units_held, shop_scrape_errors.
