"""``stripe-emulator listen --forward-to URL``: receive the emulator's events and forward each one, signed
with a secret of its own, as the Stripe CLI's ``stripe listen`` does."""

import argparse
import asyncio
import signal
import time

import aiohttp
from aiohttp import web

from stripe_emulator import API_VERSION
from stripe_emulator.signing import new_secret, signature_header
from stripe_emulator.webhook_collector import verify


def _now():
    return time.strftime("%Y-%m-%d %H:%M:%S")


class Listener:
    def __init__(self, args):
        self.args = args
        self.api_base = args.api_base.rstrip("/")
        self.secret = new_secret()  # what the forwarded-to app verifies, printed at start
        self.endpoint = None  # the emulator's webhook endpoint for this listener, with its own secret
        self.session = None

    async def receive(self, request):
        payload = await request.text()
        if self.endpoint is None or not verify(payload, request.headers.get("Stripe-Signature", ""),
                                               self.endpoint["secret"]):
            return web.Response(status=400, text="signature did not verify")
        event = await request.json()
        print(f"{_now()}   --> {event['type']} [{event['id']}]", flush=True)
        if self.args.forward_to:
            await self.forward(payload, event)
        return web.Response(text="ok")

    async def forward(self, payload, event):
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                   "Stripe-Signature": signature_header(payload, self.secret)}
        url = self.args.forward_to
        try:
            async with self.session.post(url, data=payload.encode(), headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=30)) as resp:
                await resp.read()
                print(f"{_now()}  <--  [{resp.status}] POST {url} [{event['id']}]", flush=True)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            print(f"{_now()}            [ERROR] Failed to POST: {url} [{event['id']}]: "
                  f"{type(exc).__name__}", flush=True)

    async def api(self, method, path, data=None):
        async with self.session.request(method, self.api_base + path, data=data,
                                        headers={"Authorization": f"Bearer {self.args.api_key}"}) as resp:
            body = await resp.json()
            if resp.status >= 400:
                raise RuntimeError(body.get("error", {}).get("message", resp.status))
            return body

    async def run(self):
        app = web.Application()
        app.router.add_post("/", self.receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.session = aiohttp.ClientSession()
        try:
            events = [e.strip() for e in self.args.events.split(",") if e.strip()] if self.args.events else ["*"]
            form = [("url", f"http://127.0.0.1:{port}/"), ("description", "stripe-emulator listen")]
            form += [("enabled_events[]", e) for e in events]
            self.endpoint = await self.api("POST", "/v1/webhook_endpoints", form)
            print(f"> Ready! You are using Stripe API Version [{API_VERSION}]. "
                  f"Your webhook signing secret is {self.secret} (^C to quit)", flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            await self.api("DELETE", f"/v1/webhook_endpoints/{self.endpoint['id']}")
        finally:
            await self.session.close()
            await runner.cleanup()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stripe-emulator listen",
                                description="Forward the emulator's events to a local URL, signed.")
    p.add_argument("--forward-to", "-f", help="where to POST each event, e.g. http://localhost:4242/webhook")
    p.add_argument("--events", "-e", help="comma-separated event types (default: all)")
    p.add_argument("--api-base", default="http://127.0.0.1:12111")
    p.add_argument("--api-key", default="sk_test_emulator")
    args = p.parse_args(argv)
    try:
        asyncio.run(Listener(args).run())
    except (OSError, RuntimeError, aiohttp.ClientError) as exc:
        print(f"stripe-emulator listen: {exc}", flush=True)
        return 1
    return 0
