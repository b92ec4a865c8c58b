"""``stripe-emulator`` command line: flags (or EMULATOR_* env vars), start, stop on SIGTERM/SIGINT."""

import argparse
import asyncio
import importlib
import logging
import os
import signal
import sys

from stripe_emulator import event_types
from stripe_emulator.core import Config
from stripe_emulator.faults import parse_cli_fault
from stripe_emulator.server import Handle, build_emulator


def _env(name, default):
    return os.environ.get("EMULATOR_" + name, default)


def parse_args(argv=None) -> Config:
    p = argparse.ArgumentParser(prog="stripe-emulator", description="A local, stateful Stripe look-alike. "
                                "Also: stripe-emulator trigger|listen|routes --help.")
    p.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(_env("PORT", 12111)))
    p.add_argument("--control-port", type=int, default=int(_env("CONTROL_PORT", 12112)))
    p.add_argument("--control-host", default=_env("CONTROL_HOST", "127.0.0.1"),
                   help="the control API's address: keep it private (faults, outages, the webhook secret)")
    p.add_argument("--secret-key", default=_env("SECRET_KEY", "sk_test_emulator"))
    p.add_argument("--publishable-key", default=_env("PUBLISHABLE_KEY", "pk_test_emulator"))
    p.add_argument("--webhook-url", default=_env("WEBHOOK_URL", None))
    p.add_argument("--webhook-secret", default=_env("WEBHOOK_SECRET", None))
    p.add_argument("--webhook-events", default=_env("WEBHOOK_EVENTS", "*"),
                   help="the --webhook-url endpoint's enabled_events, comma-separated (default *: every type)")
    p.add_argument("--webhook-timeout", type=float, default=float(_env("WEBHOOK_TIMEOUT", 10)))
    p.add_argument("--retry-compression", type=float, default=float(_env("RETRY_COMPRESSION", 1000)))
    p.add_argument("--webhook-retries", choices=("test", "live"), default=_env("WEBHOOK_RETRIES", "test"),
                   help="Stripe's retry policy for failed deliveries: test mode (3 retries over hours) or live "
                        "mode (9 retries over days)")
    p.add_argument("--seed", type=int, default=int(_env("SEED", 0)))
    p.add_argument("--max-objects", type=int, default=int(_env("MAX_OBJECTS", 10000)),
                   help="objects kept per type (oldest evicted first)")
    p.add_argument("--debit-settle-seconds", type=float, default=float(_env("DEBIT_SETTLE_SECONDS", 3)),
                   help="how long a US bank account debit stays processing before the bank answers")
    p.add_argument("--fault", action="append", default=[],
                   help="e.g. 'POST /v1/payment_intents:status=503,rate=0.5' (repeatable)")
    a = p.parse_args(argv)
    if a.webhook_retries not in ("test", "live"):  # argparse does not check a default taken from the environment
        p.error(f"--webhook-retries must be test or live, not {a.webhook_retries!r}")
    webhook_events = [name.strip() for name in a.webhook_events.split(",") if name.strip()]
    unknown = [name for name in webhook_events if name not in event_types.KNOWN]
    if unknown or not webhook_events:
        p.error(f"--webhook-events: not an event type: {', '.join(unknown) or '(none given)'}")
    return Config(host=a.host, port=a.port, control_port=a.control_port, control_host=a.control_host,
                  secret_key=a.secret_key,
                  publishable_key=a.publishable_key, webhook_url=a.webhook_url, webhook_secret=a.webhook_secret,
                  webhook_events=webhook_events,
                  webhook_timeout=a.webhook_timeout, retry_compression=a.retry_compression,
                  webhook_retries=a.webhook_retries, seed=a.seed, max_objects=a.max_objects,
                  debit_settle_seconds=a.debit_settle_seconds, faults=[parse_cli_fault(f) for f in a.fault])


async def serve(config: Config):
    emu = build_emulator(config)
    handle = Handle(emu)
    await handle.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"stripe-emulator listening on http://{config.host}:{config.port} "
          f"(control http://{config.control_host}:{config.control_port})", flush=True)
    await stop.wait()
    await handle.stop()


SUBCOMMANDS = {"trigger": "stripe_emulator.trigger", "listen": "stripe_emulator.listen",
               "routes": "stripe_emulator.route_table"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    logging.basicConfig(level=logging.WARNING, format="stripe-emulator %(levelname)s %(message)s")
    config = parse_args(argv)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"stripe-emulator: cannot start: {exc}", flush=True)
        return 1
    return 0
