"""The shop's tables: catalog, carts, orders and their lines, payment attempts, the Stripe event inbox, the mail outbox,
admin accounts, their sessions and the audit trail.

Money is an integer number of minor units beside its currency. Times are UTC and timezone-aware.
"""
from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (Boolean, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint, event,
                        false)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    # Named constraints, so migrations can alter them later (SQLite rebuilds tables by name in batch mode).
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s", "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"})


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class OrderState(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"  # Stripe took a payment that settles later (a bank debit): stock stays held
    AUTHORISED = "authorised"  # manual capture: the card's bank holds the money until the order is dispatched
    PAID = "paid"
    FULFILLED = "fulfilled"
    DISPATCHED = "dispatched"
    PAYMENT_FAILED = "payment_failed"
    REFUNDED = "refunded"
    CANCELED = "canceled"


OrderState.PAID_STATES = frozenset({OrderState.PAID, OrderState.FULFILLED, OrderState.DISPATCHED})  # money taken,
# not given back
OrderState.SECURED = OrderState.PAID_STATES | {OrderState.AUTHORISED}  # taken or held: the shopper is done paying


class AttemptStatus(str, enum.Enum):
    """Where one confirmation sent to Stripe stands (PaymentAttempt.status; Stripe's own words where they fit)."""
    SENDING = "sending"
    SUCCEEDED = "succeeded"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"  # 3-D Secure asked for; the shopper may have finished it since
    NEEDS_BANK_CHECK = "needs_bank_check"  # Stripe, asked afterwards, said the check is still not done
    FAILED = "failed"  # declined
    ERROR = "error"
    UNKNOWN = "unknown"  # sent, no answer: Stripe may have carried it out (find_outcome asks)
    NOT_EXECUTED = "not_executed"  # found out afterwards: Stripe never carried it out
    CANCELED = "canceled"


AttemptStatus.UNSETTLED = frozenset({AttemptStatus.SENDING, AttemptStatus.UNKNOWN, AttemptStatus.REQUIRES_ACTION})
AttemptStatus.AWAITING_BANK = frozenset({AttemptStatus.REQUIRES_ACTION, AttemptStatus.NEEDS_BANK_CHECK})


class EventStatus(str, enum.Enum):
    RECEIVED = "received"  # stored, not yet on a queue
    QUEUED = "queued"
    PROCESSED = "processed"
    IGNORED = "ignored"  # a type the shop does not act on, or nothing left to do
    FAILED = "failed"  # the last attempt raised; retried with backoff
    PARKED = "parked"  # retries exhausted; waits for a person (shop replay)


CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
               "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


class Product(db.Model):
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # a slug
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    stock: Mapped[int] = mapped_column(Integer, default=0)
    image: Mapped[str] = mapped_column(String(200), default="")


class Cart(db.Model):
    """A shopper's cart, named by the SHA-256 of the random token in its long-lived cookie (app/shop/cart_store.py);
    deleted when untouched for 30 days. A copy of the table opens no cart: the tokens are not in it."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    checkout_attempt: Mapped[str | None] = mapped_column(String(64), nullable=True)  # dropped by every change
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)


class CartItem(db.Model):
    """One product in a cart; prices always come from the catalog."""

    __table_args__ = (UniqueConstraint("cart_id", "product_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # the order lines were added in
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)


class Order(db.Model):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: uuid.uuid4().hex)
    attempt_id: Mapped[str] = mapped_column(String(64), unique=True)  # the browser's checkout attempt
    state: Mapped[str] = mapped_column(String(20), default=OrderState.PENDING.value, index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    amount_refunded: Mapped[int] = mapped_column(Integer, default=0)
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    stock_reserved: Mapped[bool] = mapped_column(default=True)
    cart_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)  # who holds its stock:
    client_address: Mapped[str | None] = mapped_column(String(45), nullable=True, index=True)  # capped per each
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    authorised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # manual capture's clock
    amount_captured: Mapped[int | None] = mapped_column(Integer, nullable=True)  # what Stripe took, when it said
    card_brand: Mapped[str | None] = mapped_column(String(20), nullable=True)  # Stripe's, never the shop's form
    card_last4: Mapped[str | None] = mapped_column(String(4), nullable=True)
    # the checkout's breakdown (app/checkout/pricing.py): amount = subtotal - discount + shipping (+ tax if exclusive)
    subtotal: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: placed before the breakdown existed
    discount_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    discount_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    shipping_method: Mapped[str | None] = mapped_column(String(20), nullable=True)  # standard | express
    shipping_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tax_inclusive: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    tax_calculation_id: Mapped[str | None] = mapped_column(String(255), nullable=True)  # taxcalc_...
    tax_transaction_id: Mapped[str | None] = mapped_column(String(255), nullable=True)  # tax_..., once paid
    shipping_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    shipping_address: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, Stripe's address shape
    shipping_phone: Mapped[str | None] = mapped_column(String(40), nullable=True)
    tax_error: Mapped[str | None] = mapped_column(String(200), nullable=True)  # Stripe refused to record its tax

    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all, delete-orphan")
    attempts: Mapped[list["PaymentAttempt"]] = relationship(back_populates="order", order_by="PaymentAttempt.number")
    history: Mapped[list["OrderTransition"]] = relationship(order_by="OrderTransition.id")

    @property
    def number(self) -> str:
        """The order number shoppers and staff see everywhere: page, receipt, admin."""
        return self.public_id[:8].upper()

    @property
    def card(self) -> str:
        """Like "Visa ending 4242", when Stripe told the shop; else empty."""
        if not self.card_last4:
            return ""
        brand = CARD_BRANDS.get(self.card_brand or "", (self.card_brand or "Card").title())
        return f"{brand} ending {self.card_last4}"


class OrderLine(db.Model):
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id"))
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[int] = mapped_column(Integer)
    discount_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # its share of the code
    tax_amount: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


class OrderTransition(db.Model):
    """One line of an order's timeline: a state change, or a refused one."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    accepted: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentAttempt(db.Model):
    """One confirmation sent to Stripe for an order; its idempotency key is derived from this row."""

    __table_args__ = (UniqueConstraint("order_id", "number"), UniqueConstraint("order_id", "fingerprint"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the confirmation token id
    status: Mapped[str] = mapped_column(String(40), default="sending")
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # the JSON answer given to the browser
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The create-and-confirm parameters this attempt sent, JSON, until it settles: a lost answer is found by sending
    # them again under the same key (Stripe then replays its stored answer). Holds the token id, never card data.
    request: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="attempts")


class StripeEvent(db.Model):
    """The durable inbox: every verified webhook delivery and every reconciled event, once per Stripe event id."""

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(100), index=True)
    object_id: Mapped[str] = mapped_column(String(255), index=True, default="")
    payload: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(20), default="webhook")  # webhook | reconcile
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.RECEIVED.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    stripe_created: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    # set when the retention period removed the payload (app/events/retention.py); payload is then "{}"
    payload_pruned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OutboxEmail(db.Model):
    """A receipt waiting to be sent (written in the same transaction as the fulfilment)."""

    __table_args__ = (UniqueConstraint("order_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"))
    kind: Mapped[str] = mapped_column(String(40))
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)  # plain text
    html: Mapped[str | None] = mapped_column(Text, nullable=True)  # the same message as HTML
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # parked: a person must act
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class Checkpoint(db.Model):
    """Named progress markers, e.g. the newest Stripe event `shop reconcile` has seen."""

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CspReport(db.Model):
    """One kind of CSP violation: a page path, a directive and a blocked origin (app/web/csp_reports.py)."""

    __table_args__ = (Index("ix_csp_report_payment_page_last_seen", "payment_page", "last_seen"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    document_uri: Mapped[str] = mapped_column(String(500))  # the page's path, ids masked
    directive: Mapped[str] = mapped_column(String(100))
    blocked_uri: Mapped[str] = mapped_column(String(500))  # the blocked origin, or a keyword such as 'inline'
    body: Mapped[str] = mapped_column(Text)  # the first report of the kind, reduced (app/web/csp_reports.py)
    payment_page: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    sample: Mapped[str] = mapped_column(String(200), default="", server_default="")
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RefundStatus(str, enum.Enum):
    REQUESTED = "requested"  # stored; Stripe's answer not known yet (a retry reuses the same key)
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(db.Model):
    """A refund asked for from the admin; its row gives the refund's idempotency key. The order moves only
    when Stripe's `charge.refunded` event arrives (app/events/)."""

    __table_args__ = (UniqueConstraint("order_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    form_token: Mapped[str] = mapped_column(String(64), unique=True)  # one submitted form, one refund
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=RefundStatus.REQUESTED.value)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    failure_reason: Mapped[str | None] = mapped_column(String(100), nullable=True)  # Stripe's, on a failed refund
    tax_reversal_id: Mapped[str | None] = mapped_column(String(255), nullable=True)  # Stripe Tax's, once recorded
    tax_error: Mapped[str | None] = mapped_column(String(200), nullable=True)  # Stripe refused the reversal

    lines: Mapped[list["RefundLine"]] = relationship(order_by="RefundLine.id")

    CANCEL_TOKEN = "cancel-"  # the form token of the refund an admin cancel makes is this and the order's id

    @classmethod
    def cancel_token(cls, order_public_id: str) -> str:
        """The form token of the refund an admin cancel makes (app/admin/cancel.py): one per order."""
        return cls.CANCEL_TOKEN + order_public_id

    @property
    def part_of_cancel(self) -> bool:
        """Made by canceling the order: the cancel's own email tells the shopper of it."""
        return self.form_token.startswith(self.CANCEL_TOKEN)


class RefundLine(db.Model):
    """What one refund gave back of one order line (a quantity) or of the shipping (no order line), with the
    amount the server computed for it from the order's stored breakdown (app/admin/refunds.py)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_line.id"), nullable=True)  # None: shipping
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # minor units


class AdminAccount(db.Model):
    """One person who may use the admin pages (`shop admin create NAME`); never deleted, only disabled, so the
    audit trail keeps naming them."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)  # set: a code is asked at login
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)  # a code is accepted once
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminSession(db.Model):
    """A server-side admin login. The cookie holds a random token; this row is keyed by its SHA-256, so the
    table alone lets no one in. `revoked_at` is set at logout, on a password change and when the account is
    disabled."""

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admin_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    address: Mapped[str] = mapped_column(String(64), default="")


class AdminAction(db.Model):
    """The audit trail: who did what to which order, event or job, for how much, when, from where."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_name: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(255), index=True)  # an order's public id, an event id or a job id
    amount: Mapped[int | None] = mapped_column(Integer, nullable=True)  # minor units
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---- the payment lifecycle: refunds Stripe reports, disputes (app/events/refunds.py, disputes.py) -----------
RefundStatus.RANK = {RefundStatus.REQUESTED: 0, RefundStatus.PENDING: 1, RefundStatus.SUCCEEDED: 2,
                     RefundStatus.FAILED: 3}  # a status only moves up: shuffled events end the same
RefundStatus.COUNTED = frozenset({RefundStatus.PENDING, RefundStatus.SUCCEEDED})  # money on its way back


class DisputeStatus(str, enum.Enum):
    """Stripe's dispute statuses, folded to what the shop acts on (`warning_*` are inquiries)."""
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"


DisputeStatus.OPEN = frozenset({DisputeStatus.NEEDS_RESPONSE, DisputeStatus.UNDER_REVIEW})
DisputeStatus.RANK = {DisputeStatus.NEEDS_RESPONSE: 0, DisputeStatus.UNDER_REVIEW: 1, DisputeStatus.WON: 2,
                      DisputeStatus.LOST: 2}


class Dispute(db.Model):
    """A chargeback or inquiry on an order's charge, as Stripe's `charge.dispute.*` events report it; it stands
    beside the order's state and never changes it."""

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # du_...
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    stripe_status: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(Integer)  # minor units
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(60), default="")
    evidence_due_by: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    funds_withdrawn: Mapped[int] = mapped_column(Integer, default=0)  # minor units Stripe took from the balance
    balance_transactions: Mapped[int] = mapped_column(Integer, default=0)  # how many Stripe listed: only grows
    evidence_text: Mapped[str | None] = mapped_column(Text, nullable=True)  # the last evidence sent from the admin
    evidence_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# ---- manual capture: what becomes of an authorisation (app/orders/capture.py) ------------------------------------
class SettlementStatus(str, enum.Enum):
    REQUESTED = "requested"  # stored; Stripe's answer not known yet (a worker sends it again with the same key)
    DONE = "done"
    FAILED = "failed"  # Stripe refused it; a person looks


class Settlement(db.Model):
    """The one decision about an order's authorisation: capture it (at dispatch) or void it (cancel). Unique per
    order, so concurrent clicks, the command line and worker retries share one row, one key and one Stripe call,
    and an authorisation is never both captured and voided."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), unique=True)
    action: Mapped[str] = mapped_column(String(10))  # capture | void
    amount: Mapped[int] = mapped_column(Integer)  # minor units to capture (a void: the amount released)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=SettlementStatus.REQUESTED.value, index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# ---- discount codes (app/checkout/discounts.py) ---------------------------------------------------------------
class DiscountKind(str, enum.Enum):
    PERCENT = "percent"  # value: whole percent, 1-100
    FIXED = "fixed"  # value: minor units of the shop's currency


class DiscountCode(db.Model):
    """A code a person created in the admin. `uses` counts the orders holding or having redeemed it and never
    passes `max_uses`: it is raised and lowered only by conditional UPDATEs (app/checkout/discounts.py)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case, A-Z 0-9 and -
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    min_subtotal: Mapped[int] = mapped_column(Integer, default=0)  # minor units
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    max_uses: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no cap
    uses: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RedemptionStatus(str, enum.Enum):
    HELD = "held"  # an unpaid order holds one use
    REDEEMED = "redeemed"  # its order was paid: counted for good
    RELEASED = "released"  # its order failed or expired: the use went back


class DiscountRedemption(db.Model):
    """One order's use of a code (at most one per order)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("discount_code.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=RedemptionStatus.HELD.value, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
