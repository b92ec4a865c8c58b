"""docker-compose.yml validates with the Compose tool installed here (Debian's docker-compose or the docker
compose plugin; skipped with a message when neither is present), has the production shape, commits no secret;
the Prometheus alert rules name only metrics the shop exports and pass `promtool check rules` when present."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.support.net import ROOT

ENV_EXAMPLE = "deploy/compose.env.example"
ALERTS = ROOT / "deploy" / "prometheus-alerts.yml"


def compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def compose(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor `docker compose` is installed: docker-compose.yml not validated "
                    "(apt-get install docker-compose)")
    environment = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "SHOP_ENV_FILE")}
    environment.update(env if env is not None else {"SHOP_ENV_FILE": ENV_EXAMPLE, "POSTGRES_PASSWORD": "x" * 16})
    return subprocess.run([*command, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
                           *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


def test_the_compose_file_validates():
    result = compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_it_has_the_production_shape():
    result = compose("--profile", "offline", "--profile", "monitoring", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"migrate", "proxy", "web", "payments", "scheduler", "worker", "postgres", "redis",
                             "emulator", "prometheus"}
    assert services["emulator"]["profiles"] == ["offline"]
    # the emulator's control API (faults, the webhook secret) is never published: only its Stripe-shaped API
    published = [str(p["published"] if isinstance(p, dict) else p).split(":")[0] for p in services["emulator"]["ports"]]
    assert published == ["12111"] and "--control-host" not in services["emulator"]["command"]
    web = services["web"]
    assert "gunicorn.conf.py" in web["command"] and "/healthz" in " ".join(web["healthcheck"]["test"])
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["shop", "init-db"]
    # two pools behind the proxy (tests/system/test_proxy.py runs its configuration): only it is published
    proxy = services["proxy"]
    assert proxy["environment"] == {"PROXY_PORT": "8000", "PAGES_UPSTREAM": "web:8000",
                                    "PAYMENTS_UPSTREAM": "payments:8000"}
    assert [port["target"] if isinstance(port, dict) else port for port in proxy["ports"]] in ([8000], ["8000:8000"])
    assert all("ports" not in services[name] for name in ("web", "payments", "worker", "scheduler"))
    assert services["payments"]["command"] == web["command"]
    assert services["emulator"]["command"][services["emulator"]["command"].index("--webhook-url") + 1] == \
        "http://proxy:8000/webhooks/stripe"
    assert all(services[name]["cpu_shares"] < 1024 for name in ("payments", "worker", "scheduler"))
    assert "cpu_shares" not in web
    worker = services["worker"]  # scalable with --scale worker=N: no fixed name, no host port
    assert "--no-cron" in worker["command"] and "ports" not in worker and "container_name" not in worker
    assert "--no-cron" not in services["scheduler"]["command"]
    assert {"pgdata", "redisdata", "metrics"} <= set(config["volumes"])
    for name in ("web", "payments", "worker", "scheduler"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql+psycopg://")
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/var/run/shop-metrics"
        assert environment["DB_APPLICATION_NAME"] == f"shop-{name}"  # which role a PostgreSQL connection serves
    # the proxy compresses (tests/system/test_proxy.py), so the pools behind it don't
    assert {services[name]["environment"]["COMPRESS_RESPONSES"] for name in ("web", "payments")} == {"false"}


def test_the_cpuset_override_pins_the_pages_apart():
    result = compose("-f", str(ROOT / "deploy" / "compose.cpusets.yml"), "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["web"]["cpuset"] == "0"
    assert {services[name]["cpuset"] for name in ("payments", "worker", "scheduler", "redis")} == {"1"}


def test_it_will_not_start_without_a_database_password():
    result = compose("config", "-q", env={"SHOP_ENV_FILE": ENV_EXAMPLE})
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_no_secret_is_committed():
    secret = re.compile(r"(sk|rk)_(live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}|POSTGRES_PASSWORD:\s*\w")
    for path in ("docker-compose.yml", ENV_EXAMPLE, "Dockerfile", "deploy/prometheus.yml"):
        assert not secret.search((ROOT / path).read_text()), path
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0
    assert ignored, ".env must stay out of git"


# ---- alert rules ----------------------------------------------------------------------------------
def exported_metric_names(client) -> set[str]:
    text = client.get("/metrics").get_data(as_text=True)
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M)) | set(re.findall(r"^(shop_\w+)", text, re.M))
    return names | {n + "_total" for n in names}


def test_every_metric_an_alert_uses_is_exported(client):
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    exported = exported_metric_names(client)
    for rule in rules:
        for name in re.findall(r"\bshop_\w+", rule["expr"]):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in exported or base in exported, f"{rule['alert']} uses {name}, which /metrics lacks"


def test_promtool_accepts_the_alert_rules():
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (apt-get install prometheus): alert rules not checked by Prometheus")
    result = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
