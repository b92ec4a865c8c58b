"""The gateway's view of its environment, read once when it is made, against the real emulator: a proxy named in
HTTP(S)_PROXY carries the calls to Stripe, NO_PROXY lets them past it, and credentials in a .netrc file never
replace the shop's Stripe key."""
from __future__ import annotations

import socket
import threading

import pytest

from app.payments import PaymentError
from app.payments.gateway import Gateway
from tests.support.net import free_port


class RefusingProxy:
    """A forward proxy that records each request line it is sent and answers 502: where a call went."""

    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.request_lines: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            with connection:
                self.request_lines.append(connection.makefile("rb").readline().decode().strip())
                connection.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self):
        self.listener.close()


@pytest.fixture
def proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    server = RefusingProxy()
    yield server
    server.close()


def _create(gateway: Gateway, key: str):
    try:
        return gateway.create_payment_intent(amount=1200, currency="usd", metadata={}, idempotency_key=key)
    except PaymentError as error:
        return error


def test_a_proxy_named_in_the_environment_carries_the_calls_to_stripe(stripe_settings, emulator, proxy,
                                                                       monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    gateway = Gateway(stripe_settings)
    outcome = _create(gateway, "through-the-proxy")
    assert isinstance(outcome, PaymentError)
    assert proxy.request_lines
    assert proxy.request_lines[0] == f"POST {emulator.api}/v1/payment_intents HTTP/1.1"
    monkeypatch.delenv("HTTP_PROXY")  # the test's own look at the emulator goes straight to it
    assert not emulator.requests_log("/v1/payment_intents")  # the call went nowhere else


def test_no_proxy_lets_the_calls_past_the_proxy(stripe_settings, emulator, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    outcome = _create(Gateway(stripe_settings), "past-the-proxy")
    assert not isinstance(outcome, PaymentError), outcome
    assert outcome["id"].startswith("pi_")
    assert proxy.request_lines == []


def test_a_netrc_file_never_replaces_the_stripe_key(stripe_settings, emulator, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login sk_test_not_the_shops password x\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    outcome = _create(Gateway(stripe_settings), "with-a-netrc")
    assert not isinstance(outcome, PaymentError), outcome
    assert outcome["id"].startswith("pi_")
