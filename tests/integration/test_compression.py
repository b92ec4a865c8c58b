"""Pages, CSS and JS come back compressed when the client accepts it, with their security headers; static URLs
carry a fingerprint of the file, and only a request with the current fingerprint may be cached for a year."""
import base64
import gzip
import hashlib
import re

import brotli
import pytest

from app.web.assets import LONG_CACHE, SHORT_CACHE
from app.settings import PROJECT_ROOT
from security_checks import pending_order

STATIC = PROJECT_ROOT / "static"


def _static_url(html: str, filename: str) -> str:
    return re.search(rf'"(/static/{re.escape(filename)}\?v=[0-9a-f]{{16}})"', html).group(1)


def _decoded(response) -> bytes:
    decode = {"gzip": gzip.decompress, "br": brotli.decompress}[response.headers["Content-Encoding"]]
    return decode(response.get_data())


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_page_is_compressed_and_keeps_its_security_headers_and_nonce(app, client, encoding):
    path = f"/orders/{pending_order(app)}"
    plain = client.get(path)
    response = client.get(path, headers={"Accept-Encoding": encoding})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in response.headers["Vary"]
    assert len(response.get_data()) < len(plain.get_data()) / 2
    page = _decoded(response).decode()
    assert '<html lang="en">' in page and "Ember &amp; Grind" in page
    for header in ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy",
                   "Permissions-Policy", "Cross-Origin-Opener-Policy"):
        assert header in response.headers, header
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    tags = re.findall(r"<script\b[^>]*>", page)
    assert tags and all(f'nonce="{nonce}"' in tag for tag in tags), tags


def test_without_accept_encoding_nothing_is_compressed(client):
    response = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in response.headers
    assert response.get_data(as_text=True).startswith("<!doctype html>")


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_fingerprinted_css_and_js_are_compressed_with_a_long_cache_and_their_integrity(app, client, encoding):
    order_page = client.get(f"/orders/{pending_order(app)}").get_data(as_text=True)
    for filename in ("css/shop.css", "js/order.js"):
        url = _static_url(order_page, filename)
        response = client.get(url, headers={"Accept-Encoding": encoding})
        assert response.status_code == 200, url
        assert response.headers["Content-Encoding"] == encoding, url
        assert response.headers["Cache-Control"] == LONG_CACHE, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        body = _decoded(response)
        assert body == (STATIC / filename).read_bytes(), url
        if filename.endswith(".js"):
            integrity = "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()
            assert re.search(rf'src="{re.escape(url)}"[^>]*integrity="{re.escape(integrity)}"', order_page)


def test_an_svg_is_compressed(client):
    url = _static_url(client.get("/").get_data(as_text=True), "img/single-origin-beans.svg")  # 889 bytes
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip" and response.mimetype == "image/svg+xml"


def test_every_static_url_on_a_page_is_fingerprinted(client):
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/static/[^"]*)"', html)
    assert urls and all(re.fullmatch(r"/static/[\w./-]+\?v=[0-9a-f]{16}", url) for url in urls), urls


@pytest.mark.parametrize("query", ["", "?v=0000000000000000"])
def test_a_static_file_without_its_current_fingerprint_gets_a_short_cache(client, query):
    response = client.get(f"/static/css/shop.css{query}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == SHORT_CACHE


def test_the_fingerprint_is_the_files_content_digest(client):
    url = _static_url(client.get("/").get_data(as_text=True), "css/shop.css")
    digest = hashlib.sha384((STATIC / "css/shop.css").read_bytes()).hexdigest()
    assert url.endswith("?v=" + digest[:16])


def test_with_compression_off_responses_are_plain_and_still_fingerprinted(make_app, settings):
    client = make_app(settings.with_overrides(compress_responses=False)).test_client()
    response = client.get("/", headers={"Accept-Encoding": "gzip, br"})
    assert "Content-Encoding" not in response.headers
    url = _static_url(response.get_data(as_text=True), "css/shop.css")
    assert client.get(url).headers["Cache-Control"] == LONG_CACHE
