"""Connector configs: placeholders, secrets, diffs (no Connect worker needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.connector_file import connectors_dir
from shopstream.errors import ConnectError
from shopstream.ops.deploy import load_specs, mask
from shopstream.settings import Settings


def test_project_configs_resolve_settings_and_keep_secrets_for_the_worker(clean_env: Path) -> None:
    specs = {s.name: s for s in load_specs(Settings())}
    assert sorted(specs) == [
        "shopstream-demographics-source",
        "shopstream-influxdb-events",
        "shopstream-influxdb-kpi-campaign",
        "shopstream-influxdb-kpi-segment",
    ]
    config = specs["shopstream-demographics-source"].config
    assert config["database.hostname"] == "127.0.0.1" and config["topic.prefix"] == "shop.demographics"
    assert config["database.password"] == "${env:SHOPSTREAM_MYSQL_CDC_PASSWORD}"
    assert config["value.converter.apicurio.registry.url"] == "http://127.0.0.1:8081/apis/registry/v2"
    events = specs["shopstream-influxdb-events"].config
    assert events["topics"] == "shop.events.enriched" and events["influxdb.rp"] == "events_7d"
    assert events["influxdb.url"] == "http://127.0.0.1:8086" and events["tasks.max"] == "3"
    assert events["errors.deadletterqueue.topic.name"] == "shop.events.enriched.dlq"
    for spec in specs.values():
        assert not any("${settings:" in v for v in spec.config.values()), spec.name
        assert all(v.startswith("${env:") for k, v in spec.config.items() if "password" in k), spec.name
    for path in connectors_dir().glob("*.json"):
        raw = path.read_text()
        assert "shopstream-cdc-local" not in raw and "shopstream-influx-local" not in raw  # no secret


def test_settings_reach_the_configs(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_MYSQL_HOST", "db.internal")
    monkeypatch.setenv("SHOPSTREAM_TOPIC_DEMOGRAPHICS", "crm.customers")
    [spec] = [s for s in load_specs(Settings()) if s.name == "shopstream-demographics-source"]
    assert spec.config["database.hostname"] == "db.internal"
    assert spec.config["transforms.route.replacement"] == "crm.customers"


def test_unknown_placeholder_and_malformed_file_fail_naming_the_file(tmp_path: Path, clean_env: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"name": "x", "config": {"a": "${settings:no_such_field}"}}))
    with pytest.raises(ConnectError, match=r"x.json: a: unknown placeholder \$\{settings:no_such_field\}"):
        load_specs(Settings(), tmp_path)
    result = CliRunner().invoke(app, ["connectors", "diff", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and "unknown placeholder" in result.output
    (tmp_path / "x.json").write_text('{"config": {}}')
    with pytest.raises(ConnectError, match=r"x.json: expected"):
        load_specs(Settings(), tmp_path)


def test_mask() -> None:
    masked = mask({"database.password": "hunter2", "x.password": "${env:P}", "user": "u"})
    assert masked == {"database.password": "*****", "x.password": "${env:P}", "user": "u"}
