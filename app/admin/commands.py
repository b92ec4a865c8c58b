"""`shop admin create|password|disable|totp NAME`: the admin accounts, managed from the server's command line.
A password is read from a hidden prompt, or from the first line of stdin when stdin is not a terminal."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.admin import accounts

__all__ = ["admin"]


@click.group("admin")
def admin():
    """Named admin accounts."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


@admin.command("create")
@click.argument("name")
@click.option("--if-missing", is_flag=True, help="Succeed without a change when the account exists.")
@with_appcontext
def create(name: str, if_missing: bool):
    """Make an account; its password is prompted for (or read from stdin)."""
    if if_missing and accounts.find(name) is not None:
        click.echo(f"account {name} exists")
        return
    try:
        accounts.create(name, _read_password())
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"account {name} created")


@admin.command("password")
@click.argument("name")
@with_appcontext
def password(name: str):
    """Set a new password; every session of the account ends."""
    try:
        accounts.set_password(name, _read_password())
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"password of {name} changed; its sessions are ended")


@admin.command("disable")
@click.argument("name")
@with_appcontext
def disable(name: str):
    """Refuse the account from now on; every session of it ends."""
    try:
        accounts.disable(name)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"account {name} disabled; its sessions are ended")


@admin.command("totp")
@click.argument("name")
@with_appcontext
def totp(name: str):
    """Give the account a new TOTP secret (a code is asked at every login) and print its otpauth:// URI."""
    try:
        click.echo(accounts.enable_totp(name))
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from None
