"""`shopstream pipeline status` on the real stack: services, exact topic counts, lag, exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.settings import Settings
from tests.integration.shopstream.ops.conftest import commit, free_port, produce

runner = CliRunner()


def _checks(output: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["component"], c["name"]): c for c in json.loads(output)["checks"]}


def test_status_json_reports_services_exact_topic_counts_and_lag(
    isolated_topics: Settings, group: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = isolated_topics
    monkeypatch.setenv("SHOPSTREAM_SPARK_UI_PORT", str(free_port()))  # no Spark job there
    produce(s, {s.topics.events: [4, 4, 4], s.topics.events_dlq: [0, 1, 0], s.topics.kpi_segment: [2, 0, 3]})
    commit(s, group, s.topics.kpi_segment, {0: 1, 2: 3})
    args = ["pipeline", "status", "--json", "--interval", "0.5", "--checkpoint-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--group", group])
    assert result.exit_code == 1, result.output  # the Spark job is not running
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    checks = _checks(result.stdout)

    services = {name: c["health"] for (kind, name), c in checks.items() if kind == "service"}
    monitoring = ("alertmanager", "prometheus", "exporter") if s.monitoring.enabled else ()
    assert services == dict.fromkeys(
        ("mariadb", "influxdb", "kafka", "registry", "connect", *monitoring), "ok"
    )
    topics = {name: (c["data"]["topic"], c["data"]["exists"], c["data"]["records"], c["data"]["rate"])
              for (kind, name), c in checks.items() if kind == "topic"}  # fmt: skip
    assert topics == {
        "events": (s.topics.events, True, 12, 0.0),
        "enriched": (s.topics.enriched, True, 0, 0.0),
        "events_dlq": (s.topics.events_dlq, True, 1, 0.0),
        "kpi_campaign": (s.topics.kpi_campaign, True, 0, 0.0),
        "kpi_segment": (s.topics.kpi_segment, True, 5, 0.0),
        "kpi_dlq": (s.topics.kpi_dlq, True, 0, 0.0),
        "enriched_dlq": (s.topics.enriched_dlq, True, 0, 0.0),
        "demographics": (s.topics.demographics, True, 0, 0.0),
    }
    assert checks[("topic", "events_dlq")]["health"] == "warn"  # dead letters warn, do not fail
    assert checks[("topic", "events")]["health"] == "ok"
    spark = checks[("spark", "job")]
    assert spark["health"] == "fail" and spark["data"]["running"] is False
    lag = checks[("consumer", f"group:{group}")]
    assert (lag["health"], lag["data"]["lag"], lag["data"]["consumed"]) == ("ok", 1, 4)

    over = runner.invoke(app, [*args, "--group", group, "--max-lag", "0"])
    assert _checks(over.stdout)[("consumer", f"group:{group}")]["health"] == "fail"


def test_status_table_and_help(isolated_topics: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_SPARK_UI_PORT", str(free_port()))
    result = runner.invoke(app, ["pipeline", "status", "--interval", "0"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "shopstream pipeline: unhealthy" in result.stdout
    assert "no Spark UI on 127.0.0.1:" in result.stdout
    for command in (["pipeline"], ["pipeline", "status"], ["pipeline", "monitor"]):
        helped = runner.invoke(app, [*command, "--help"])
        assert helped.exit_code == 0 and "Usage:" in helped.output
