"""deploy/nginx/default.conf.template, as docker-compose.yml's `proxy` runs it, in front of the shop's two gunicorn
pools (a real nginx, real gunicorns, RQ workers, the emulator over HTTP): the payment paths reach the payments pool,
everything else the pages pool, so either pool can be down alone and the other side of the shop keeps working.
Skipped, with a message, where nginx is not installed (`make test` installs it where it may)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from app.payments import UNAVAILABLE_MESSAGE
from app.settings import Settings
from tests.support.events import event_payload, sign
from tests.support.net import ROOT, free_port, wait_for_http
from tests.support.shopper import Shopper
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
TEMPLATE = ROOT / "deploy" / "nginx" / "default.conf.template"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def start_nginx(tmp: Path, port: int, pages: str, payments: str, template: str | None = None) -> subprocess.Popen:
    """nginx with the template filled in as the nginx image's entrypoint does (envsubst of the variables it is
    given; nginx's own $variables stay)."""
    values = {"PROXY_PORT": str(port), "PAGES_UPSTREAM": pages, "PAYMENTS_UPSTREAM": payments}
    site = re.sub(r"\$\{(\w+)\}", lambda match: values.get(match[1], match[0]), template or TEMPLATE.read_text())
    assert "${" not in site, "a variable the proxy service does not set"
    (tmp / "site.conf").write_text(site)
    temp_paths = " ".join(f"{kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    (tmp / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off; worker_processes 1; pid {tmp / 'nginx.pid'}; error_log stderr warn;\n"
        + "events { worker_connections 512; }\n"
        + f"http {{ access_log off; {temp_paths} include {tmp / 'site.conf'}; }}\n")
    check = subprocess.run([nginx_binary(), "-t", "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    return subprocess.Popen([nginx_binary(), "-p", str(tmp), "-c", str(tmp / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=(tmp / "nginx.log").open("w"))


@pytest.fixture
def proxied(tmp_path):
    yield from proxy_in_front(tmp_path, TEMPLATE.read_text())


@pytest.fixture
def loose_proxy(tmp_path):
    """The proxy with a webhook cap larger than the shop's (as a proxy someone configured differently would
    have): the shop itself must then refuse the body and keep the connection usable."""
    template = TEMPLATE.read_text().replace("client_max_body_size 256k;", "client_max_body_size 1m;")
    assert "256k" not in template
    yield from proxy_in_front(tmp_path, template)


def proxy_in_front(tmp_path, template: str):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light): deploy/nginx/ not exercised")
    stack = Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), workers=1, payments_pool=True,
                  extra_env={"TRUSTED_PROXIES": "1", "COMPRESS_RESPONSES": "false"}).start()  # as docker-compose.yml
    nginx = None
    try:
        port = free_port()
        nginx = start_nginx(tmp_path, port, f"127.0.0.1:{stack.port}", f"127.0.0.1:{stack.payments_port}", template)
        front = f"http://127.0.0.1:{port}"
        wait_for_http(f"{front}/healthz")
        # the shop as a shopper reaches it: every path through the proxy
        yield stack, SimpleNamespace(url=front, payments_url=front, emulator=stack.emulator)
    finally:
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        stack.stop()


def webhook(front, body: str) -> requests.Response:
    return requests.post(f"{front.url}/webhooks/stripe", data=body, timeout=10,
                         headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})


def shopper_at_checkout(front) -> tuple[Shopper, str]:
    """A shopper with a mug in the cart and the checkout page open, holding a ConfirmationToken."""
    shopper = Shopper(front)
    shopper.open_checkout("enamel-mug", 1)
    return shopper, shopper.confirmation_token()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(20)


def test_a_purchase_through_the_proxy_is_paid_and_fulfilled(proxied):
    stack, front = proxied
    status, body = Shopper(front).buy("enamel-mug", 1)
    assert status == 200 and body["status"] == "succeeded", body
    stack.wait_until(lambda: stack.order_states() == {"fulfilled": 1}, timeout=60)
    unknown_type = event_payload("customer.created", {"id": "cus_proxy", "object": "customer"})
    assert webhook(front, unknown_type).status_code == 200


def test_with_the_payments_pool_down_the_pages_stay_up_and_checkout_says_so(proxied):
    stack, front = proxied
    shopper, token = shopper_at_checkout(front)
    stop(stack.processes[1])  # the payments pool

    for path in ("/", "/products/enamel-mug", "/cart", "/checkout"):
        assert shopper.http.get(f"{front.url}{path}", timeout=10).status_code == 200, path
    status, body = shopper.confirm(token)
    # nginx's answer is the shop's own: the same body and Retry-After as a confirm the breaker turns away
    assert (status, body) == (503, {"status": "error", "retryable": True, "error": UNAVAILABLE_MESSAGE})
    assert shopper.last_response.headers["Retry-After"] == "30"
    assert "enamel-mug" in shopper.http.get(f"{front.url}/cart", timeout=10).text  # the cart is kept
    assert webhook(front, event_payload("customer.created", {"id": "cus_x", "object": "customer"})).status_code >= 500
    assert stack.order_states() == {}


def test_with_the_pages_pool_down_payments_and_webhooks_go_on(proxied):
    stack, front = proxied
    shopper, token = shopper_at_checkout(front)
    stop(stack.processes[0])  # the pages pool

    assert requests.get(f"{front.url}/", timeout=10).status_code == 502
    status, body = shopper.confirm(token)
    assert status == 200 and body["status"] == "succeeded", body
    stack.wait_until(lambda: stack.order_states() == {"fulfilled": 1}, timeout=60)
    body = event_payload("customer.created", {"id": "cus_pages_down", "object": "customer"})
    assert webhook(front, body).status_code == 200
    assert stack.query("SELECT count(*) FROM stripe_event WHERE type = 'customer.created'")[0][0] == 1


def test_the_proxy_compresses_pages_css_and_js_and_passes_the_long_cache_on(proxied):
    stack, front = proxied
    gzip = {"Accept-Encoding": "gzip"}
    page = requests.get(f"{front.url}/", headers=gzip, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in page.headers["Vary"] and "Content-Security-Policy" in page.headers
    assert '<html lang="en">' in page.text  # requests decompresses
    css = re.search(r'href="(/static/css/shop\.css\?v=[0-9a-f]+)"', page.text).group(1)
    shopper = Shopper(front)
    shopper.open_checkout("enamel-mug", 1)
    checkout = shopper.http.get(f"{front.url}/checkout", timeout=10).text
    js = re.search(r'src="(/static/js/checkout\.js\?v=[0-9a-f]+)"', checkout).group(1)
    for url in (css, js):
        response = requests.get(f"{front.url}{url}", headers=gzip, timeout=10)
        assert response.status_code == 200, url
        assert response.headers["Content-Encoding"] == "gzip", url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        behind = requests.get(f"{stack.url}{url}", headers=gzip, timeout=10)  # the shop itself doesn't compress
        assert "Content-Encoding" not in behind.headers and behind.content == response.content, url


def test_an_oversized_webhook_is_refused_and_no_other_request_fails(proxied):
    stack, front = proxied
    limit = Settings().webhook_max_body
    assert f"client_max_body_size {limit // 1024}k;" in TEMPLATE.read_text()  # the proxy's cap is the shop's
    big = '{"id": "evt_big", "pad": "' + "x" * (300 * 1024) + '"}'
    refused = requests.post(f"{front.url}/webhooks/stripe", data=big, timeout=10,
                            headers={"Stripe-Signature": sign(big), "Content-Type": "application/json"})
    assert refused.status_code == 413
    with requests.Session() as other:  # another client, on connections of its own
        statuses = [other.post(f"{front.url}/webhooks/stripe", data=body, timeout=10,
                               headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"}).status_code
                    for body in (event_payload("customer.created", {"id": f"cus_{n}", "object": "customer"})
                                 for n in range(10))]
    assert statuses == [200] * 10
    # just under the cap: the shop itself answers (and drains what it refuses), the proxy does not
    near = '{"id": "evt_near", "pad": "' + "x" * (limit - 200) + '"}'
    assert webhook(front, near).status_code == 400  # signed, but not a Stripe event
    assert [webhook(front, event_payload("customer.created", {"id": f"cus_after_{n}", "object": "customer"}))
            .status_code for n in range(5)] == [200] * 5


def test_behind_a_proxy_with_a_larger_cap_an_oversized_body_fails_no_other_request(loose_proxy):
    """Oversized bodies (over the shop's caps, under the proxy's 1 MiB) while four other clients keep sending:
    without the shop draining what it refuses, some of the others got nginx's 502 (a reused upstream
    connection the shop was closing)."""
    stack, front = loose_proxy
    big = '{"id": "evt_big", "pad": "' + "x" * (300 * 1024) + '"}'
    refused, others = [], []
    done = threading.Event()

    def oversized():
        with requests.Session() as session:
            for n in range(40):
                path, kind = (("/webhooks/stripe", "application/json") if n % 2
                              else ("/csp-report", "application/csp-report"))
                answer = session.post(f"{front.url}{path}", data=big, timeout=10, headers={
                    "Stripe-Signature": sign(big), "Content-Type": kind})
                refused.append((answer.status_code, answer.text[:200]))
        done.set()

    def other_client():
        with requests.Session() as session:  # connections of its own, kept alive
            while not done.is_set():
                others.append(session.post(f"{front.url}/cart/add", data={"product_id": "enamel-mug"},
                                           timeout=10).status_code)
                body = event_payload("customer.created", {"id": f"cus_{len(others)}", "object": "customer"})
                others.append(session.post(f"{front.url}/webhooks/stripe", data=body, timeout=10, headers={
                    "Stripe-Signature": sign(body), "Content-Type": "application/json"}).status_code)

    threads = [threading.Thread(target=oversized)] + [threading.Thread(target=other_client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [code for code, _ in refused] == [413] * 40, refused[:4]  # the shop's own answer, passed on
    assert len(others) >= 20 and set(others) <= {200, 400}, {code: others.count(code) for code in set(others)}
