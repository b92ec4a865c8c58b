"""POST /csp-report keeps each kind of violation (page path, directive, blocked origin) once with its count, in
both report formats, without the secrets a URL may carry; a flood of reports, from one client or from many,
never keeps a new violation on a payment page from being stored and alerted; old kinds are pruned;
`shop csp-report` and the admin list them, payment pages first."""
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import tasks
from app.models import CspReport, db, utcnow
from app.telemetry import metrics

CHECKOUT = "http://localhost/checkout"
SKIMMER = "https://cdn-analytics.evil.example/skim.js?v=3"


def _legacy(blocked="inline", document=CHECKOUT + "?payment_intent_client_secret=pi_1_secret_abcdef", **extra):
    return {"csp-report": {"document-uri": document, "referrer": "", "violated-directive": "script-src-elem",
                           "effective-directive": "script-src-elem", "original-policy": "default-src 'self'",
                           "disposition": "enforce", "blocked-uri": blocked, "status-code": 200,
                           "script-sample": "", **extra}}


def _violation(document=CHECKOUT, blocked="https://evil.example/skim.js?card=4242424242424242", line=1):
    return {"type": "csp-violation", "age": 10, "url": document, "user_agent": "Chromium",
            "body": {"documentURL": document, "blockedURL": blocked, "effectiveDirective": "script-src-elem",
                     "disposition": "enforce", "sourceFile": document, "lineNumber": line, "sample": "",
                     "statusCode": 200, "originalPolicy": "default-src 'self'"}}


def _reporting_api(blocked="https://evil.example/skim.js?card=4242424242424242"):
    return [_violation(blocked=blocked), {"type": "deprecation", "age": 1, "url": CHECKOUT, "body": {"id": "x"}}]


def _post(client, body, content_type="application/csp-report", address=None):
    headers = {"X-Forwarded-For": address} if address else {}
    return client.post("/csp-report", data=json.dumps(body), content_type=content_type, headers=headers)


def _reports(app):
    with app.app_context():
        rows = [(r.directive, r.blocked_uri, r.document_uri, r.count, json.loads(r.body))
                for r in db.session.scalars(select(CspReport).order_by(CspReport.id))]
        db.session.remove()
        return rows


def _kinds(app) -> dict[tuple, tuple]:
    with app.app_context():
        rows = {(r.document_uri, r.directive, r.blocked_uri): (r.count, r.payment_page)
                for r in db.session.scalars(select(CspReport))}
        db.session.remove()
        return rows


def _payment_alerts() -> float:
    return sum(sample.value for metric in metrics.CSP_PAYMENT_PAGE_VIOLATIONS.collect()
               for sample in metric.samples if sample.name.endswith("_total"))


def test_a_report_uri_report_is_stored_as_its_page_path_without_the_query_string(app, client):
    response = _post(client, _legacy())
    assert response.status_code == 204
    [(directive, blocked, document, count, body)] = _reports(app)
    assert (directive, blocked, document, count) == ("script-src-elem", "inline", "/checkout", 1)
    assert "secret" not in json.dumps(body)


def test_a_reporting_api_batch_is_stored_by_blocked_origin_and_other_report_types_ignored(app, client):
    response = _post(client, _reporting_api(), "application/reports+json")
    assert response.status_code == 204
    [(directive, blocked, document, count, body)] = _reports(app)
    assert blocked == "https://evil.example" and "4242" not in json.dumps(body) and "skim.js" not in blocked
    assert body["line"] == 1 and document == "/checkout"


def test_reports_are_aggregated_by_page_directive_and_blocked_origin(app, client):
    """Scripts of one origin, other query strings, lines and hosts of the shop: one kind with its count."""
    for n in range(5):
        _post(client, [_violation(document=f"https://shop.example/checkout?attempt={n}#x",
                                  blocked=f"https://evil.example/s{n}.js?q={n}", line=n)], "application/reports+json")
    _post(client, _legacy(blocked="https://evil.example:8443/x.js"))  # another port is another origin
    _post(client, _legacy(blocked="https://evil.example/y.js", document="http://localhost/products/mug"))
    _post(client, _legacy(blocked="data:text/javascript,alert(1)"))
    kinds = _kinds(app)
    assert kinds == {("/checkout", "script-src-elem", "https://evil.example"): (5, True),
                     ("/checkout", "script-src-elem", "https://evil.example:8443"): (1, True),
                     ("/products/mug", "script-src-elem", "https://evil.example"): (1, False),
                     ("/checkout", "script-src-elem", "data:"): (1, True)}
    with app.app_context():
        row = db.session.scalars(select(CspReport).where(CspReport.count == 5)).one()
        assert row.first_seen <= row.last_seen


def test_the_same_violation_on_two_order_pages_is_one_kind_on_a_payment_page(app, client):
    for order in ("a" * 32, "0b8e8fb2-5e58-4a6c-9d68-c654d68c654d"):
        _post(client, _legacy(document=f"http://localhost/orders/{order}"))
    assert _kinds(app) == {("/orders/{id}", "script-src-elem", "inline"): (2, True)}


def test_script_samples_are_scrubbed_of_card_like_numbers(app, client):
    _post(client, _legacy(**{"script-sample": "fetch('//x?c=4242 4242 4242 4242')"}))
    [(_, _, _, _, body)] = _reports(app)
    assert "4242 4242" not in body["sample"] and "[card?]" in body["sample"]


def test_the_csp_report_command_lists_each_kind_with_its_count_payment_pages_first(app, client):
    _post(client, _legacy(document="http://localhost/products/mug"))
    for _ in range(3):
        _post(client, _legacy())
    _post(client, _legacy(document="http://localhost/cart"))
    output = app.test_cli_runner().invoke(args=["csp-report"]).output.splitlines()
    assert "x3" in output[0] and "script-src-elem" in output[0] and "blocked=inline" in output[0]
    assert "page=/checkout" in output[0] and output[0].endswith("PAYMENT PAGE")
    assert "page=/cart" in output[1] and "page=/products/mug" in output[2] and "PAYMENT" not in output[1]
    lines = app.test_cli_runner().invoke(args=["csp-report", "--json"]).output.splitlines()
    assert json.loads(lines[0])["count"] == 3 and json.loads(lines[0])["payment_page"] is True


def test_the_command_says_so_when_nothing_was_reported(app):
    assert "no CSP violations reported" in app.test_cli_runner().invoke(args=["csp-report"]).output


def test_reports_need_no_csrf_token(make_app, settings):
    app = make_app(settings)
    app.config["WTF_CSRF_ENABLED"] = True
    assert _post(app.test_client(), _legacy()).status_code == 204


def test_reports_are_counted_in_the_metric(app, client):
    before = metrics.CSP_REPORTS.labels("script-src-elem")._value.get()
    _post(client, _legacy())
    assert metrics.CSP_REPORTS.labels("script-src-elem")._value.get() == before + 1


# ---- floods (issue: 250 posts of 20 reports filled the store; a skimmer on /checkout was then dropped) -------

def _flood_batch(post: int) -> list[dict]:
    """20 reports of kinds never seen before, on ordinary pages."""
    return [{"type": "csp-violation", "body": {"documentURL": f"https://shop.example/products/p{post}",
                                               "blockedURL": f"https://x{n}.flood.example/a.js",
                                               "effectiveDirective": "script-src-elem"}} for n in range(20)]


def _skimmer_is_stored_and_alerted(app, client, caplog, address="198.51.100.9"):
    alerts = _payment_alerts()
    with caplog.at_level(logging.ERROR, logger="app.web.csp_store"):
        response = _post(client, [_violation(blocked=SKIMMER)], "application/reports+json", address)
    assert response.status_code == 204
    assert _kinds(app)[("/checkout", "script-src-elem", "https://cdn-analytics.evil.example")] == (1, True)
    assert _payment_alerts() == alerts + 1
    assert any("payment page" in r.getMessage() and "cdn-analytics.evil.example" in r.getMessage()
               for r in caplog.records)


@pytest.fixture
def behind_proxy(make_app, settings):
    """As deployed: one proxy in front, so the client address is the one it forwards (the rate limit's key)."""
    return make_app(settings.with_overrides(trusted_proxies=1))


def test_a_flood_from_one_client_is_rate_limited_and_a_skimmer_is_still_stored(behind_proxy, caplog):
    client = behind_proxy.test_client()
    statuses = [_post(client, _flood_batch(n), "application/reports+json", "203.0.113.7").status_code
                for n in range(250)]
    assert statuses.count(204) == 60 and statuses.count(429) == 190  # RATE_LIMIT_CSP_REPORT: 60/minute
    assert len(_kinds(behind_proxy)) == 60 * 20
    _skimmer_is_stored_and_alerted(behind_proxy, client, caplog)


@pytest.mark.slow
def test_a_flood_from_many_clients_fills_the_cap_yet_a_skimmer_on_checkout_is_stored_and_alerted(behind_proxy,
                                                                                                 caplog):
    """The issue's flood exactly: 250 posts of 20 new kinds, each from another address (no rate limit applies),
    reach the 5,000 kinds cap; the skimmer's report after it is stored, and stays through more of the flood."""
    client = behind_proxy.test_client()
    for n in range(250):
        assert _post(client, _flood_batch(n), "application/reports+json", f"192.0.2.{n}"
                     ).status_code == 204
    assert len(_kinds(behind_proxy)) == 5000
    _skimmer_is_stored_and_alerted(behind_proxy, client, caplog)
    for n in range(250, 275):  # 500 kinds more: the oldest elsewhere make room, the skimmer stays
        _post(client, _flood_batch(n), "application/reports+json", f"203.0.113.{n - 250}")
    kinds = _kinds(behind_proxy)
    assert len(kinds) == 5000 and kinds[("/checkout", "script-src-elem", "https://cdn-analytics.evil.example")]


@pytest.fixture
def small(make_app, settings):
    return make_app(settings.with_overrides(csp_report_max_kinds=30, rate_limit_csp_report="off"))


def test_past_the_cap_a_new_kind_evicts_the_oldest_kinds_off_payment_pages(small, caplog):
    client = small.test_client()
    _post(client, [_violation(blocked="https://early.evil.example/a.js")], "application/reports+json")
    _post(client, _flood_batch(0), "application/reports+json")
    _post(client, _flood_batch(1)[:9], "application/reports+json")
    assert len(_kinds(small)) == 30
    lost = metrics.CSP_KINDS_LOST.labels("evicted")._value.get()
    _post(client, _flood_batch(2), "application/reports+json")
    kinds = _kinds(small)
    assert len(kinds) == 30 and metrics.CSP_KINDS_LOST.labels("evicted")._value.get() == lost + 20
    assert ("/checkout", "script-src-elem", "https://early.evil.example") in kinds  # the oldest, on checkout
    assert not any(page == "/products/p0" for page, _, _ in kinds)  # the oldest elsewhere went first
    _skimmer_is_stored_and_alerted(small, client, caplog)


def test_a_full_table_of_payment_page_kinds_still_takes_a_new_one(small, caplog):
    client = small.test_client()
    for batch in range(2):
        _post(client, [_violation(blocked=f"https://f{batch}-{n}.evil.example/") for n in range(15)],
              "application/reports+json")
    assert len(_kinds(small)) == 30
    dropped = metrics.CSP_KINDS_LOST.labels("dropped")._value.get()
    _post(client, _legacy(document="http://localhost/products/mug"))  # elsewhere: nothing to evict, dropped
    assert metrics.CSP_KINDS_LOST.labels("dropped")._value.get() == dropped + 1
    _skimmer_is_stored_and_alerted(small, client, caplog)
    assert len(_kinds(small)) == 31


def test_a_repeat_of_a_known_payment_page_kind_is_counted_not_alerted_again(app, client, caplog):
    _skimmer_is_stored_and_alerted(app, client, caplog)
    alerts = _payment_alerts()
    _post(client, [_violation(blocked=SKIMMER)], "application/reports+json")
    assert _kinds(app)[("/checkout", "script-src-elem", "https://cdn-analytics.evil.example")] == (2, True)
    assert _payment_alerts() == alerts


# ---- pruning --------------------------------------------------------------------------------------------------

def test_kinds_not_seen_for_the_retention_period_are_pruned_by_the_worker_job(app, client):
    _post(client, _legacy(blocked="https://old.example/a.js"))
    _post(client, _legacy(blocked="https://recent.example/a.js"))
    with app.app_context():
        db.session.execute(update(CspReport).where(CspReport.blocked_uri == "https://old.example")
                           .values(last_seen=utcnow() - timedelta(days=31)))
        db.session.execute(update(CspReport).where(CspReport.blocked_uri == "https://recent.example")
                           .values(last_seen=utcnow() - timedelta(days=29)))
        db.session.commit()
        db.session.remove()
    assert tasks.prune_csp_reports() == 1  # the job worker.py's cron runs hourly
    assert [blocked for _, blocked, *_ in _reports(app)] == ["https://recent.example"]


def test_the_worker_cron_runs_the_pruning():
    from tests.support.net import ROOT

    assert "scheduler.register(jobs.prune_csp_reports" in (ROOT / "worker.py").read_text()


# ---- malformed bodies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body, content_type, status", [
    (b"not json", "application/csp-report", 400),
    (b"\xff\xfe", "application/reports+json", 400),
    (b'{"csp-report": "x"}', "application/csp-report", 400),
    (b"42", "application/csp-report", 400),
    (json.dumps(_flood_batch(0) + _flood_batch(1)[:1]).encode(), "application/reports+json", 400),
    (b"[" * 4000 + b"]" * 4000, "application/reports+json", 400),
    (json.dumps(_legacy()).encode(), "text/plain", 415),
    (b'{"csp-report": {"document-uri": "' + b"a" * 9000 + b'"}}', "application/csp-report", 413),
])
def test_malformed_bodies_get_a_clear_error_and_store_nothing(app, client, body, content_type, status):
    response = client.post("/csp-report", data=body, content_type=content_type)
    assert response.status_code == status and response.json["error"]
    assert _reports(app) == []


@pytest.mark.parametrize("report, page, blocked, directive", [
    ({"document-uri": ["x"], "blocked-uri": 7, "effective-directive": {"a": 1}}, "", "", "other"),
    ({"document-uri": "javascript:alert(1)", "blocked-uri": "https://x.example:99999/a"}, "", "other", "other"),
    ({"document-uri": "http://localhost/%63heckout", "blocked-uri": "HTTPS://Evil.Example/a",
      "violated-directive": "script-src 'self'"}, "/checkout", "https://evil.example", "script-src"),
    ({"document-uri": "http://localhost/checkout", "blocked-uri": "chrome-extension://abc/x.js",
      "effective-directive": "x" * 500}, "/checkout", "chrome-extension:", "other"),
])
def test_odd_fields_are_reduced_to_a_kind_not_refused(app, client, report, page, blocked, directive):
    assert _post(client, {"csp-report": report}).status_code == 204
    [(stored_directive, stored_blocked, stored_page, _, _)] = _reports(app)
    assert (stored_page, stored_blocked, stored_directive) == (page, blocked, directive)
