"""The monitoring under Docker Compose is the local stack's: the same JMX exporter version and rules
files, the same Prometheus jobs, rules and Spark renaming, the same Alertmanager routing, Grafana's
Prometheus datasource; and docker-compose resolves it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopstream.resources import project_file
from shopstream.settings import Settings
from shopstream.stack.artifacts import pom_properties
from shopstream.stack.services import alertmanager, prometheus
from tests.unit.compose.test_docker_compose import REPO_ROOT, compose_config

COMPOSE_PROMETHEUS = project_file("monitoring", "prometheus", "prometheus.compose.yml")
COMPOSE_ALERTMANAGER = project_file("monitoring", "alertmanager", "alertmanager.compose.yml")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose_config(tmp_path_factory.mktemp("compose"))["services"]
    return services


def _mounts(service: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v.split(":")[0], v.split(":")[1]) for v in service.get("volumes", [])}


def test_kafka_and_connect_run_the_jmx_exporter_agent_of_the_local_stacks_version(
    services: dict[str, dict[str, Any]],
) -> None:
    version = pom_properties()["jmx.exporter.version"]
    assert (
        services["jmx-agent"]["command"][-1]
        == f"-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:{version}"
    )
    for name, port in (("kafka", 9404), ("connect", 9405)):
        service = services[name]
        agent = f"-javaagent:/opt/jmx-agent/jmx_prometheus_javaagent.jar={port}:/opt/jmx-config/{name}.yml"
        assert service["environment"]["KAFKA_OPTS"] == agent
        assert (str(REPO_ROOT / "monitoring" / "jmx"), "/opt/jmx-config") in _mounts(service)
        assert service["depends_on"]["jmx-agent"]["condition"] == "service_completed_successfully"


def test_prometheus_scrapes_the_local_stacks_jobs_with_the_same_rules(
    services: dict[str, dict[str, Any]], clean_env: Path
) -> None:
    compose = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    local = prometheus.render_config(Settings().replace(state_dir=clean_env), prometheus.rules_file())
    assert compose["rule_files"] == [prometheus.rules_file().name]
    assert compose["global"]["scrape_interval"] == local["global"]["scrape_interval"]
    assert compose["global"]["evaluation_interval"] == local["global"]["evaluation_interval"]
    jobs = {job["job_name"]: job for job in compose["scrape_configs"]}
    local_jobs = {job["job_name"]: job for job in local["scrape_configs"]}
    assert set(jobs) == set(local_jobs) - {"stack"}  # Compose's healthchecks watch its services
    for name, job in local_jobs.items():
        if name == "stack":
            continue
        assert jobs[name].get("metrics_path", "/metrics") == job.get("metrics_path", "/metrics"), name
        assert jobs[name].get("metric_relabel_configs") == job.get("metric_relabel_configs"), name
    assert (str(REPO_ROOT / "monitoring" / "prometheus"), "/etc/prometheus/shopstream") in _mounts(
        services["prometheus"]
    )
    ports = {job: job_config["static_configs"][0]["targets"][0] for job, job_config in jobs.items()}
    assert ports["kafka"] == "kafka:9404" and ports["connect"] == "connect:9405"
    assert ports["producer"] == "producer:9464" and ports["telemetry"] == "telemetry:9465"
    result = subprocess.run(
        ["promtool", "check", "config", str(COMPOSE_PROMETHEUS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("webhook", ["", "https://hooks.example.net/shopstream"])
def test_alertmanager_routes_as_the_local_stacks(webhook: str, tmp_path: Path) -> None:
    """What the compose service's shell makes of the file (substituted, or the webhook dropped) is
    the configuration the local stack renders for the same setting."""
    script = yaml.safe_load((REPO_ROOT / "compose" / "docker-compose.yml").read_text())["services"]
    command = script["alertmanager"]["command"][0].replace("$$", "$")
    command = command.replace("/etc/alertmanager/shopstream/", f"{COMPOSE_ALERTMANAGER.parent}/")
    command = command.replace("/tmp/alertmanager.yml", str(tmp_path / "am.yml")).split("exec ")[0]
    env = {"SHOPSTREAM_ALERTMANAGER_WEBHOOK_URL": webhook, "PATH": "/usr/bin:/bin"}
    subprocess.run(["/bin/sh", "-ec", command], check=True, env=env)
    rendered = yaml.safe_load((tmp_path / "am.yml").read_text())
    local = alertmanager.render_config(Settings().replace(alertmanager_webhook_url=webhook))
    assert json.loads(json.dumps(rendered)) == local
    result = subprocess.run(
        ["amtool", "check-config", str(tmp_path / "am.yml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_waits_for_prometheus_and_provisions_it(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert grafana["environment"]["SHOPSTREAM_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert services["telemetry"]["command"] == ["shopstream", "pipeline", "telemetry"]
