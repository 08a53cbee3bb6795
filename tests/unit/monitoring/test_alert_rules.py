"""The alert rules as code (monitoring/prometheus/alerts.yml), checked by Prometheus' own tool: `promtool
check rules` (syntax, templates) and `promtool test rules` (every alert fires on synthetic series when it
should and stays quiet when it should not: alerts_test.yml); the configurations the local stack writes
for Prometheus and Alertmanager pass `promtool check config` and `amtool check-config`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shopstream.errors import SettingsError
from shopstream.resources import project_file
from shopstream.settings import Settings
from shopstream.stack.services import alertmanager, prometheus

RULES = prometheus.rules_file()
RULE_TESTS = RULES.with_name("alerts_test.yml")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:  # never a skip: CI has it (scripts/setup.sh installs it)
        pytest.fail(f"{name} is missing: scripts/setup.sh installs it (apt-get install prometheus)")
    return path


def _run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)


def _alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(yaml.safe_load(RULES.read_text())['groups'][0]['rules']) + len(_alerts())}" in (
        result.stdout
    )


def test_promtool_test_rules_every_alert_fires_and_stays_quiet_as_specified() -> None:
    result = _run(_tool("promtool"), "test", "rules", RULE_TESTS.name, cwd=RULES.parent)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fires = {e["alertname"] for case in cases for e in case["alert_rule_test"] if e["exp_alerts"]}
    quiet = {e["alertname"] for case in cases for e in case["alert_rule_test"] if not e["exp_alerts"]}
    assert fires == set(_alerts()), set(_alerts()) ^ fires
    assert quiet == set(_alerts()), set(_alerts()) ^ quiet


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_a_severity_a_summary_and_a_runbook_naming_a_command(name: str) -> None:
    rule = _alerts()[name]
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"].strip()
    runbook = rule["annotations"]["runbook"]
    assert re.search(r"`shopstream [a-z]", runbook), f"{name}: the runbook names no shopstream command"


def test_the_issues_alerts_are_all_there() -> None:
    assert set(_alerts()) == {
        "ConnectorNotRunning",
        "ConnectTaskNotRunning",
        "SinkLagGrowing",
        "DeadLettersArriving",
        "KpiFreshnessHigh",
        "SparkQueryNoProgress",
        "UnderReplicatedPartitions",
        "OfflinePartitions",
        "StackServiceDown",
        "TargetDown",
        "ProducerRefusalRateHigh",
    }


def test_local_prometheus_config_passes_promtool(clean_env: Path) -> None:
    settings = Settings().replace(state_dir=clean_env / "state")
    config = clean_env / "prometheus.yml"
    config.write_text(json.dumps(prometheus.render_config(settings, RULES)))
    result = _run(_tool("promtool"), "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = {job["job_name"] for job in prometheus.render_config(settings, RULES)["scrape_configs"]}
    assert jobs == {
        "prometheus",
        "alertmanager",
        "kafka",
        "connect",
        "stack",
        "spark",
        "producer",
        "telemetry",
    }


@pytest.mark.parametrize("webhook", ["", "https://hooks.example.net/shopstream"])
def test_local_alertmanager_config_passes_amtool(clean_env: Path, webhook: str) -> None:
    settings = Settings().replace(alertmanager_webhook_url=webhook)
    rendered = alertmanager.render_config(settings)
    config = clean_env / "alertmanager.yml"
    config.write_text(json.dumps(rendered))
    result = _run(_tool("amtool"), "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    (receiver,) = rendered["receivers"]
    assert rendered["route"]["receiver"] == receiver["name"]
    hooks = [hook["url"] for hook in receiver.get("webhook_configs", [])]
    assert hooks == ([webhook] if webhook else [])


def test_jmx_exporter_configs_keep_only_named_metrics() -> None:
    """Every rule names its metric (nothing is exported under the exporter's default names) and the
    MBeans read are limited (includeObjectNames)."""
    for service in ("kafka", "connect"):
        config = yaml.safe_load(project_file("monitoring", "jmx", f"{service}.yml").read_text())
        assert config["includeObjectNames"], service
        assert config["lowercaseOutputName"] is True
        for rule in config["rules"]:
            assert rule["pattern"] and rule["name"], (service, rule)


def test_the_receivers_example_passes_amtool_and_replaces_the_stacks_configuration(clean_env: Path) -> None:
    """Slack, e-mail and PagerDuty through Alertmanager: the documented example is a valid
    configuration, and SHOPSTREAM_ALERTMANAGER_CONFIG_FILE makes the local Alertmanager run it."""
    from shopstream.stack.services.base import StackContext

    example = project_file("monitoring", "alertmanager", "receivers.example.yml")
    result = _run(_tool("amtool"), "check-config", str(example))
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {key for r in yaml.safe_load(example.read_text())["receivers"] for key in r if key != "name"}
    assert kinds == {"slack_configs", "pagerduty_configs", "email_configs"}
    settings = Settings().replace(state_dir=clean_env / "state", alertmanager_config_file=example)
    service = alertmanager.service(StackContext(settings))
    service.prepare()
    assert (clean_env / "state" / "alertmanager" / "alertmanager.yml").read_text() == example.read_text()
    with pytest.raises(SettingsError, match="no such file"):
        Settings().replace(alertmanager_config_file=clean_env / "missing.yml")
