"""One Settings object, read from the environment (and `.env` in development).

No other module reads ``os.environ``: everything configurable lives here with its default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv
from sqlalchemy.engine import make_url

STRIPE_JS_DEFAULT = "https://js.stripe.com/v3/"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_KEYS = {"sk_test_emulator", "pk_test_emulator"}  # stripe_emulator's defaults: never in production
# words of the placeholders in examples and tutorials: a SECRET_KEY containing one was typed, not generated
PLACEHOLDER_WORDS = ("change", "secret", "example", "generate", "placeholder", "default", "password")
LOCAL_HOSTS = ("localhost", "127.0.0.1")  # served outside production when ALLOWED_HOSTS is not set
MIN_SECRET_CHARACTERS = 10  # distinct characters: a hex token has 16, "aaaa..." has 1


# Each setting is read from its name in capitals (stripe_read_timeout: STRIPE_READ_TIMEOUT), except these.
ENV_NAMES = {"env": "SHOP_ENV", "stripe_webhook_secrets": "STRIPE_WEBHOOK_SECRET"}


def env_name(setting: str) -> str:
    """The environment variable a setting is read from."""
    return ENV_NAMES.get(setting, setting.upper())


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


@dataclass(frozen=True)
class Settings:
    """Every setting the shop reads, with its documented default."""

    env: str = "development"  # SHOP_ENV: development | production | test
    secret_key: str = ""
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'instance' / 'shop.sqlite3'}"
    redis_url: str = ""  # empty: `shop dev` starts an embedded Valkey
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secrets: tuple[str, ...] = ()  # STRIPE_WEBHOOK_SECRET, comma-separated during rotation
    stripe_api_base: str = ""  # empty: real Stripe
    stripe_js_url: str = STRIPE_JS_DEFAULT
    stripe_connect_timeout: float = 2.0
    stripe_read_timeout: float = 8.0
    stripe_max_network_retries: int = 2
    checkout_deadline: float = 10.0  # seconds a shopper's confirm may take, retries included
    payment_outcome_window: float = 120.0  # seconds after which an unanswered confirm is known not to have run
    # The payments pool and the fleet's Stripe request rate (docs/operations.md, "The payments pool")
    stripe_max_concurrency: int = 128  # concurrent Stripe calls per process (bulkhead), cut to the open-files
    # limit (app/payments/gateway.py bulkhead_size); the payments pool runs this many threads and 16 more
    stripe_rate_limit: int = 80  # Stripe write requests per second, all processes together (Redis); 0: no limit
    stripe_read_rate_limit: int = 80  # Stripe read requests per second, likewise
    stripe_rate_limit_wait: float = 1.0  # seconds a call may wait for its turn, within its deadline, then 503
    breaker_fail_max: int = 5
    breaker_reset_timeout: float = 30.0
    webhook_tolerance: int = 300
    webhook_max_body: int = 256 * 1024
    currency: str = "usd"
    shipping_countries: tuple[str, ...] = ("US", "CA", "GB", "IE", "DE", "FR", "NL")  # the Address Element offers these
    shipping_home_countries: tuple[str, ...] = ("US",)  # the "domestic" zone; every other country is "international"
    # per zone, each method's price in minor units and its delivery window in business days
    shipping_rates: str = ("domestic:standard=599@3-5,express=1499@1-2;"
                           "international:standard=1999@6-10,express=3999@2-4")
    free_shipping_threshold: int = 7500  # standard shipping is free from this subtotal (after discount); 0: never
    tax: str = "stripe"  # stripe: Stripe Tax calculations and transactions | none: no tax is charged
    tax_behavior: str = "exclusive"  # exclusive: tax added on top (US style) | inclusive: prices include it (EU)
    product_tax_code: str = "txcd_99999999"  # Stripe's "general - tangible goods"
    shipping_tax_code: str = "txcd_92010001"  # Stripe's "shipping"
    mail_url: str = ""  # smtp://host:port; empty: receipts stay in the outbox
    mail_from: str = "shop@example.test"
    public_url: str = ""  # the shop's address as shoppers reach it (https://shop.example), for links in emails
    force_https: bool = False
    capture: str = "automatic"  # automatic | manual: authorise at checkout, capture when the order is dispatched
    authorisation_alert_days: float = 6.0  # an authorisation older than this is listed as near Stripe's 7-day limit
    pending_order_ttl: int = 3600  # seconds before an unpaid order releases its stock
    stock_hold_seconds: int = 300  # seconds an order holds its stock while no payment for it is under way
    delayed_payment_hold_days: int = 7  # days a processing bank debit holds its order's stock (ACH: up to 4
    # business days to settle, so a week with its weekend)
    delayed_payment_method: str = "us_bank_account"  # offered beside cards; empty: cards only
    hold_max_orders_per_cart: int = 3  # unpaid orders holding stock at once, per cart
    hold_max_units_per_cart: int = 50
    hold_max_orders_per_address: int = 10  # the same, per client address
    hold_max_units_per_address: int = 150
    relay_interval: int = 5
    relay_stale_after: int = 30  # seconds before a queued-but-unprocessed event is queued again
    reconcile_interval: int = 60
    job_retries: int = 5
    event_batch: int = 20  # events a worker may apply in one transaction when it finds others ready
    admin_password_hash: str = ""  # bootstraps the account `admin` while none exists (shop hash-password)
    admin_max_failures: int = 5  # admin login attempts per account name and per client address per lockout window
    admin_lockout_seconds: int = 900
    admin_session_seconds: int = 8 * 3600  # an admin session ends this long after its login, used or not
    admin_idle_seconds: int = 1800  # ...or this long after its last request
    db_pool_size: int = 5  # per process (gunicorn sets it, see gunicorn.conf.py)
    db_max_overflow: int = 10
    db_pool_timeout: float = 5.0  # seconds to wait for a pooled connection
    db_connect_timeout: int = 3
    db_statement_timeout: int = 5000  # milliseconds; PostgreSQL only
    db_application_name: str = "shop"  # PostgreSQL's application_name: which role a connection serves
    health_timeout: float = 2.0  # seconds each /readyz check may take
    metrics_token: str = ""  # set: /metrics wants "Authorization: Bearer <token>"; required in production
    allowed_hosts: tuple[str, ...] = ()  # Host names served (".example.com": subdomains); see served_hosts
    event_payload_retention_days: int = 90  # stored Stripe event payloads are pruned after this many days
    rate_limit_storage: str = ""  # empty: the Redis URL, else memory://
    rate_limit_confirm: str = "20/minute;200/hour"  # per client address; "off" (or "") turns a limit off
    rate_limit_quote: str = "60/minute;600/hour"  # per client address: each quote may ask Stripe Tax
    rate_limit_webhook: str = "120/minute"  # refused requests only: signed deliveries never spend it
    rate_limit_csp_report: str = "60/minute;600/hour"
    csp_report_max_kinds: int = 5000  # distinct violations kept; past it the oldest off payment pages go
    csp_report_retention_days: int = 30  # a kind not seen for this long is pruned (worker's cron, hourly)
    csp_payment_pages: str = "/checkout,/orders"  # path prefixes (comma-separated) whose violations are never dropped
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto/-Host are believed
    log_json: bool = False
    compress_responses: bool = True  # off where a proxy in front compresses (deploy/nginx/ does)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def served_hosts(self) -> tuple[str, ...]:
        """The Host names the shop answers to: ALLOWED_HOSTS, or this machine's names outside production."""
        return self.allowed_hosts or (() if self.is_production else LOCAL_HOSTS)

    @property
    def payment_method_types(self) -> tuple[str, ...]:
        """What the Payment Element offers and the PaymentIntent accepts: cards, and the delayed method when the
        shop's currency is one it debits (a US bank account debits US dollars). Under CAPTURE=manual cards only:
        a bank debit cannot be authorised now and captured later."""
        delayed = self.delayed_payment_method if self.currency == "usd" and self.capture == "automatic" else ""
        return ("card", delayed) if delayed else ("card",)

    @property
    def stripe_js_origin(self) -> str:
        return _origin(self.stripe_js_url)

    @property
    def stripe_api_origin(self) -> str:
        return _origin(self.stripe_api_base) if self.stripe_api_base else "https://api.stripe.com"

    def engine_options(self) -> dict:
        """SQLAlchemy engine options: pool sizes and timeouts on PostgreSQL, pool sizes and a lock timeout on SQLite
        (a file database gets a QueuePool too: a connection past the pool would reopen the file and its schema)."""
        if self.database_url.startswith("sqlite"):
            options = {"connect_args": {"timeout": 15, "check_same_thread": False}}
            if make_url(self.database_url).database not in (None, "", ":memory:"):
                options.update(pool_size=self.db_pool_size, max_overflow=self.db_max_overflow,
                               pool_timeout=self.db_pool_timeout)
            return options
        # no pool_pre_ping: app/db/connection_check.py checks a connection before use without a round trip
        return {"pool_size": self.db_pool_size, "max_overflow": self.db_max_overflow,
                "pool_timeout": self.db_pool_timeout, "pool_recycle": 1800,
                "connect_args": {"connect_timeout": self.db_connect_timeout,
                                 "application_name": self.db_application_name,
                                 "options": f"-c statement_timeout={self.db_statement_timeout}"}}

    def with_overrides(self, **overrides) -> "Settings":
        return replace(self, **overrides)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, dotenv: bool = True) -> "Settings":
        if env is None:
            if dotenv:
                load_dotenv(Path.cwd() / ".env", override=False)
            env = dict(os.environ)
        raw = {field.name: env.get(env_name(field.name)) for field in fields(cls)}
        types = {f.name: f.type for f in fields(cls)}
        values = {}
        for name, value in raw.items():
            if value is None or value == "":
                continue
            kind = types[name]
            if kind == "bool":
                values[name] = _bool(value)
            elif kind == "int":
                values[name] = int(value)
            elif kind == "float":
                values[name] = float(value)
            elif kind == "tuple[str, ...]":
                values[name] = _list(value)
            else:
                values[name] = value
        settings = cls(**values)
        if settings.is_production and "force_https" not in values:
            settings = replace(settings, force_https=True)
        if settings.is_production and "log_json" not in values:
            settings = replace(settings, log_json=True)
        return settings

    def check(self) -> None:
        """Refuse to start with settings that would be unsafe or cannot work (production: `production_problems`)."""
        if not self.secret_key:
            raise RuntimeError("SECRET_KEY is not set "
                               "(generate one: python -c 'import secrets; print(secrets.token_hex(32))')")
        if self.capture not in ("automatic", "manual"):
            raise RuntimeError("CAPTURE must be automatic or manual")
        if self.event_payload_retention_days < 0:
            raise RuntimeError("EVENT_PAYLOAD_RETENTION_DAYS must be 0 (keep payloads) or more")
        if self.delayed_payment_hold_days < 1:
            raise RuntimeError("DELAYED_PAYMENT_HOLD_DAYS must be 1 or more")
        if self.tax not in ("stripe", "none"):
            raise RuntimeError("TAX must be stripe or none")
        if self.tax_behavior not in ("exclusive", "inclusive"):
            raise RuntimeError("TAX_BEHAVIOR must be exclusive or inclusive")
        if self.free_shipping_threshold < 0:
            raise RuntimeError("FREE_SHIPPING_THRESHOLD must be 0 (never free) or more")
        from app.checkout.pricing import parse_rates  # imported here: the settings module imports none of the app

        try:
            parse_rates(self.shipping_rates)
        except ValueError as error:
            raise RuntimeError(f"SHIPPING_RATES cannot be read: {error}") from None
        if self.delayed_payment_method not in ("", "us_bank_account"):
            raise RuntimeError("DELAYED_PAYMENT_METHOD must be us_bank_account or empty (cards only)")
        public_host = urlsplit(self.public_url).hostname if self.public_url else None
        if public_host and not host_allowed(public_host, self.served_hosts):
            raise RuntimeError(f"PUBLIC_URL's host {public_host} is not in ALLOWED_HOSTS")
        if self.is_production:
            problems = self.production_problems()
            if problems:
                raise RuntimeError("refusing to start in production: " + "; ".join(problems))

    def production_problems(self) -> list[str]:
        """What production refuses, each naming its setting."""
        problems = []
        key = self.secret_key
        if len(key) < 32:
            problems.append("SECRET_KEY must be at least 32 characters")
        elif len(set(key)) < MIN_SECRET_CHARACTERS or any(word in key.lower() for word in PLACEHOLDER_WORDS):
            problems.append("SECRET_KEY looks typed or a placeholder, not generated")
        if not self.metrics_token:
            problems.append("METRICS_TOKEN is empty: /metrics would be public")
        if not self.allowed_hosts or "*" in self.allowed_hosts:
            problems.append("ALLOWED_HOSTS must list the shop's host names (it is not set)")
        if self.stripe_api_base and not self.stripe_api_base.startswith("https://"):
            problems.append("STRIPE_API_BASE must be an https:// address")
        if not self.stripe_js_url.startswith("https://"):
            problems.append("STRIPE_JS_URL must be an https:// address")
        for name in ("stripe_secret_key", "stripe_publishable_key"):
            if getattr(self, name) in EMULATOR_KEYS:
                problems.append(f"{env_name(name)} is the local emulator's key")
        return problems

    def warnings(self) -> list[str]:
        """What production allows but an operator must hear about (logged once at start)."""
        if not self.is_production:
            return []
        return [f"{env_name(name)} is a Stripe test-mode key: no real payment will be taken"
                for name, prefix in (("stripe_secret_key", "sk_test_"), ("stripe_publishable_key", "pk_test_"))
                if getattr(self, name).startswith(prefix)]


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Is `host` (no port) one of `allowed` (an entry ".example.com" allows its subdomains)?"""
    host = host.lower()
    return any(host == entry.lower() or (entry.startswith(".") and host.endswith(entry.lower()))
               for entry in allowed)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
