"""Terms, privacy, shipping and returns, and contact: each page answers with its own title and heading, and the
footer of every page links to all four."""
import re

import pytest

PAGES = {"/terms": "Terms of sale", "/privacy": "Privacy", "/shipping-returns": "Shipping and returns",
         "/contact": "Contact us"}


@pytest.mark.parametrize("path, title", PAGES.items())
def test_each_page_answers_with_its_title_and_heading(client, path, title):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert f"<title>{title} · Ember &amp; Grind</title>" in html
    assert re.findall(r"<h1[^>]*>(.*?)</h1>", html) == [title]


def _footer_links(html: str) -> dict[str, str]:
    footer = re.search(r'<footer class="site-footer">(.*?)</footer>', html, re.S).group(1)
    return {href: label for href, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', footer)}


@pytest.mark.parametrize("path", ["/", "/cart", "/products/enamel-mug", *PAGES])
def test_the_footer_links_to_every_page(client, path):
    links = _footer_links(client.get(path).get_data(as_text=True))
    assert links == PAGES


def test_the_footer_marks_the_page_being_read(client):
    html = client.get("/privacy").get_data(as_text=True)
    assert re.search(r'<footer.*<a href="/privacy" aria-current="page">Privacy</a>', html, re.S)
    assert html.count('aria-current="page"') == 1


def test_the_shipping_page_states_the_promises(client):
    html = client.get("/shipping-returns").get_data(as_text=True)
    assert "within 2 business days" in html and "within 30 days" in html
    assert "demonstration shop" in html


def test_the_contact_page_gives_the_shops_address(make_app, settings):
    app = make_app(settings.with_overrides(mail_from="Ember & Grind <help@shop.example>"))
    html = app.test_client().get("/contact").get_data(as_text=True)
    assert '<a href="mailto:help@shop.example" data-testid="contact-email">help@shop.example</a>' in html
