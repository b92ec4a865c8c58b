"""A body the shop refuses (413 and other refusals) leaves its connection usable: the shop's gunicorn reads what
is left of it (up to app/web/limits.py DRAIN_MAX) so the next request on the same keep-alive connection is
served, and past that bound it says `Connection: close`, so a proxy reusing upstream connections never sends a
request down a connection the server is closing. Raw sockets against the real gunicorn (no client library that
would quietly open a new connection)."""
from __future__ import annotations

import socket

import pytest

from app.web.limits import DRAIN_MAX
from tests.support.net import ROOT
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
BIG = 300 * 1024  # over every cap of the shop's own (webhook 256 KiB), under the proxy's 1 MiB


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("refused"), workers=0, web_workers=1, web_threads=2).start()
    yield stack
    stack.stop()


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length (the shop's are), read exactly, nothing past it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a whole response: {data[:200]!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a response body")
        body += chunk
    return int(lines[0].split()[1]), headers, body


def post(sock: socket.socket, path: str, body: bytes, content_type: str = "application/json") -> None:
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


def get(sock: socket.socket, path: str) -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return read_response(sock)


@pytest.mark.parametrize("path, content_type", [
    ("/webhooks/stripe", "application/json"),  # WEBHOOK_MAX_BODY
    ("/csp-report", "application/csp-report"),  # its own 8 KiB cap
    ("/cart/add", "application/x-www-form-urlencoded"),  # a form's 4 KiB cap
    ("/checkout/quote", "application/json"),  # MAX_CONTENT_LENGTH
])
def test_after_an_oversized_body_the_same_connection_serves_the_next_request(shop, path, content_type):
    with socket.create_connection(("127.0.0.1", shop.port), timeout=15) as sock:
        post(sock, path, b"a=" + b"x" * BIG, content_type)
        status, headers, _ = read_response(sock)
        assert status == 413
        assert headers.get("connection", "").lower() != "close"
        for _ in range(3):
            assert get(sock, "/healthz")[0] == 200  # the leftover body was not taken for a request


def test_a_body_past_what_the_shop_drains_is_answered_with_connection_close(shop):
    with socket.create_connection(("127.0.0.1", shop.port), timeout=15) as sock:
        sock.sendall(f"POST /webhooks/stripe HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {DRAIN_MAX + 1}\r\n\r\n".encode())  # the body never comes: not read
        status, headers, _ = read_response(sock)
        assert status == 413 and headers["connection"].lower() == "close"
    with socket.create_connection(("127.0.0.1", shop.port), timeout=15) as sock:
        assert get(sock, "/healthz")[0] == 200


def test_the_drain_bound_is_the_one_gunicorn_conf_uses():
    assert f"DRAIN_MAX = {DRAIN_MAX // 1024} * 1024" in (ROOT / "gunicorn.conf.py").read_text()
