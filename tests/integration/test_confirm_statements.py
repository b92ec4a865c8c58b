"""The confirm's database work, counted: a checkout's CPU is mostly the shop's own (docs/operations.md, capacity),
so a change that makes the happy path read rows again, or look up the cart it does not need, shows here first."""
from __future__ import annotations

from sqlalchemy import event

from app.models import db
from tests.support.shopper import Checkout

STATEMENTS_PER_CONFIRM = 21  # a first, quoted confirm that pays: its order, lines, stock, attempt and answer
COMMITS_PER_CONFIRM = 5


def _statements_of(app, send) -> tuple[list[str], int]:
    with app.app_context():
        engine = db.engine
    statements, commits = [], []
    on_statement = lambda conn, cursor, statement, *rest: statements.append(" ".join(statement.split()))  # noqa: E731
    on_commit = lambda conn: commits.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        answer = send()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
    assert answer.json["status"] == "succeeded", answer.json
    return statements, len(commits)


def test_a_paying_confirm_stays_within_its_statements_and_commits(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    statements, commits = _statements_of(stripe_app, lambda: shopper.confirm(token, quote=quote))
    assert len(statements) <= STATEMENTS_PER_CONFIRM, "\n".join(statements)
    assert commits <= COMMITS_PER_CONFIRM


def test_the_confirm_never_reads_the_order_or_its_attempt_twice_between_writes(stripe_app, emulator):
    """After each commit only the order is read again, once, where another process may have changed it."""
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    statements, _ = _statements_of(stripe_app, lambda: shopper.confirm(token, quote=quote))
    attempt_reads = [s for s in statements if s.startswith("SELECT payment_attempt.id, payment_attempt.order_id")]
    order_reads = [s for s in statements if s.startswith('SELECT "order".id,')]
    assert len(attempt_reads) == 2  # its fingerprint looked up; other attempts' creates looked for
    assert len(order_reads) == 4  # by attempt id; placed and checked; refreshed before sending; after the answer


def test_the_confirm_reads_the_cart_only_for_its_id_and_its_attempt(stripe_app, emulator):
    """Not the page hook that empties a bought cart (`forget_a_bought_cart`): the confirm answers from the
    order itself."""
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    statements, _ = _statements_of(stripe_app, lambda: shopper.confirm(token, quote=quote))
    cart_reads = [s for s in statements if " FROM cart " in f"{s} "]
    assert [s.split(" FROM ")[0] for s in cart_reads] == ["SELECT cart.id, cart.updated_at",
                                                          "SELECT cart.checkout_attempt"], "\n".join(cart_reads)
