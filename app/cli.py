"""The `shop` command: dev, init-db, seed, reconcile, replay, relay, expire-carts, capture, authorisations,
hash-password, webhook-events, csp-report, admin."""
from __future__ import annotations

import json
import os

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext


def register_commands(app) -> None:
    for command in (init_db, seed, reconcile, replay, relay, expire_carts, capture, authorisations):
        app.cli.add_command(command)


def init_database() -> None:
    """Bring the schema to the newest migration (migrations/); safe to run on every deploy."""
    from flask_migrate import upgrade

    os.makedirs(current_app.instance_path, exist_ok=True)
    upgrade()


@click.command("init-db")
@with_appcontext
def init_db():
    """Apply the schema migrations (creates the tables on a new database)."""
    init_database()
    click.echo("database ready")


@click.command("seed")
@click.option("--reset-stock", is_flag=True, help="Put every product's stock back to its seeded level.")
@with_appcontext
def seed(reset_stock: bool):
    """Insert the demo catalog."""
    from app.shop.catalog import seed_catalog

    init_database()
    changed = seed_catalog(current_app.config["SETTINGS"].currency, reset_stock=reset_stock)
    click.echo(f"catalog seeded ({changed} products changed)")


@click.command("reconcile")
@with_appcontext
def reconcile():
    """Store (and enqueue) the Stripe events the webhook never delivered."""
    from app.events.reconcile import reconcile as run

    click.echo(json.dumps(run()))


@click.command("relay")
@with_appcontext
def relay():
    """Enqueue stored events (and receipts) that never reached a queue."""
    from app.queues.relay import relay_events, relay_outbox

    click.echo(f"relayed {relay_events()} events, {relay_outbox()} receipts")


@click.command("expire-carts")
@with_appcontext
def expire_carts():
    """Delete the carts nobody has used for 30 days (the worker's cron does this hourly)."""
    from app.shop.cart_store import purge_expired

    click.echo(f"deleted {purge_expired()} expired carts")


@click.command("replay")
@click.argument("event_id")
@click.option("--now", "inline", is_flag=True, help="Apply it in this process instead of enqueueing it.")
@with_appcontext
def replay(event_id: str, inline: bool):
    """Process a stored event again (a parked or failed one); already-processed events stay a no-op."""
    from app.events.replay import ReplayError, replay_event

    try:
        click.echo(replay_event(event_id, inline=inline))
    except ReplayError as error:
        raise click.ClickException(str(error)) from None


@click.command("capture")
@click.argument("order")
@click.option("--amount", default="", help="Capture less than authorised, e.g. 12.50 (the rest is released).")
@with_appcontext
def capture(order: str, amount: str):
    """Capture an authorised ORDER (its public id) once; unlike the admin's dispatch it is not marked dispatched."""
    from sqlalchemy import select

    from app.admin.capture import CaptureError, settle
    from app.admin.refunds import BadAmount, parse_amount
    from app.models import Order, db
    from app.payments import get_gateway

    found = db.session.scalars(select(Order).where(Order.public_id == order)).first()
    if found is None:
        raise click.ClickException(f"no order {order}")
    try:
        minor = parse_amount(amount, found.currency) if amount else None
        row = settle(found, "capture", get_gateway(current_app), minor)
    except (BadAmount, CaptureError) as error:
        raise click.ClickException(str(error).replace("refund", "capture")) from None
    db.session.refresh(found)
    click.echo(f"order {found.number}: {row.action} of {row.amount} {found.currency} {row.status}; order {found.state}")


@click.command("authorisations")
@with_appcontext
def authorisations():
    """List authorised orders waiting for capture, oldest first, with their age in days."""
    from app.admin.capture import authorisations as waiting
    from app.models import utcnow

    for order in waiting():
        age = (utcnow() - order.authorised_at).total_seconds() / 86400 if order.authorised_at else 0.0
        click.echo(f"{order.public_id} {order.amount} {order.currency} {age:.1f} days")


def _create_app():
    from app import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, add_default_commands=True, load_dotenv=False,
                  help="The storefront's command line (`shop dev` runs everything locally).")


@main.command("webhook-events", with_appcontext=False)
def webhook_events():
    """The event types the shop acts on, comma-separated: the webhook endpoint's enabled_events (Stripe sends
    nothing else, so no delivery is spent on an event the shop would only file)."""
    from app.events.handlers import WEBHOOK_EVENTS

    click.echo(WEBHOOK_EVENTS)


@main.command("hash-password", with_appcontext=False)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Read from a prompt when not given.")
def hash_password(password: str):
    """Print a hash for ADMIN_PASSWORD_HASH (it bootstraps the account `admin` while no account exists)."""
    from app.admin.accounts import hash_password as scrypt_hash

    if len(password) < 12:
        raise click.ClickException("use at least 12 characters")
    click.echo(scrypt_hash(password))


@main.command("dev", with_appcontext=False)
@click.option("--port", default=5000, show_default=True)
@click.option("--emulator-port", default=12111, show_default=True)
@click.option("--workers", default=1, show_default=True)
def dev(port: int, emulator_port: int, workers: int):
    """Run the shop with everything it needs: emulator, embedded Valkey, worker, web server."""
    from app.devserver import run_dev

    run_dev(port=port, emulator_port=emulator_port, workers=workers)


if __name__ == "__main__":
    main()
