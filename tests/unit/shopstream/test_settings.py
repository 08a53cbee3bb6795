"""Settings: defaults point at the local stack, env overrides, bad values fail naming the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.errors import SettingsError
from shopstream.resources import project_dir
from shopstream.settings import Settings


def test_defaults_point_at_the_local_stack(clean_env: Path) -> None:
    s = Settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert (s.kafka_port, s.kafka_controller_port) == (9092, 9093)
    assert s.schema_registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert (s.registry_port, s.registry_base_url) == (8081, "http://127.0.0.1:8081")
    assert (s.connect_port, s.mysql_port, s.influxdb_port) == (8083, 3306, 8086)
    assert s.all_topics == [
        "shop.events",
        "shop.events.enriched",
        "shop.kpi.campaign",
        "shop.kpi.segment",
        "shop.demographics",
        "shop.events.dlq",
        "shop.kpi.dlq",
        "shop.events.enriched.dlq",
    ]
    assert s.connect_jolokia_url == "http://127.0.0.1:8778/jolokia" and s.connect_jolokia_port == 8778
    assert s.state_dir == project_dir() / ".state"


def test_environment_overrides_every_endpoint(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", "kafka-1.example:19092,kafka-2.example:19092")
    monkeypatch.setenv("SHOPSTREAM_SCHEMA_REGISTRY_URL", "https://registry.example/apis/ccompat/v7/")
    monkeypatch.setenv("SHOPSTREAM_MYSQL_PASSWORD", "s3cret")
    monkeypatch.setenv("SHOPSTREAM_STATE_DIR", str(clean_env / "state"))
    s = Settings()
    assert s.kafka_port == 19092
    assert s.schema_registry_url == "https://registry.example/apis/ccompat/v7"
    assert (s.registry_port, s.registry_base_url) == (443, "https://registry.example")
    assert s.mysql_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.state_dir == clean_env / "state"


def test_dotenv_file_is_read(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = clean_env / ".env"
    env_file.write_text("SHOPSTREAM_TOPIC_EVENTS=other.events\n")
    monkeypatch.setitem(Settings.model_config, "env_file", env_file)
    assert Settings().topic_events == "other.events"


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", "localhost", "kafka_bootstrap_servers"),
        ("SHOPSTREAM_CONNECT_URL", "127.0.0.1:8083", "connect_url"),
        ("SHOPSTREAM_MYSQL_PORT", "70000", "mysql_port"),
        ("SHOPSTREAM_TOPIC_PARTITIONS", "0", "topic_partitions"),
    ],
)
def test_bad_value_names_the_field(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert [e["loc"] for e in err.value.errors()] == [(field,)]


def test_unknown_setting_in_dotenv_is_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = clean_env / ".env"
    env_file.write_text("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVER=typo:9092\n")
    monkeypatch.setitem(Settings.model_config, "env_file", env_file)
    with pytest.raises(ValidationError, match="kafka_bootstrap_server"):
        Settings()


def test_cli_fails_fast_naming_the_env_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", "no-port")
    result = CliRunner().invoke(app, ["stack", "status"])
    assert result.exit_code == 2
    assert "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS" in result.output


def test_env_example_documents_every_setting() -> None:
    documented = set(
        re.findall(r"^#? ?(SHOPSTREAM_[A-Z0-9_]+)=", (project_dir() / ".env.example").read_text(), re.M)
    )
    expected = {f"SHOPSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_every_setting_has_a_description() -> None:
    assert [name for name, f in Settings.model_fields.items() if not f.description] == []


def test_settings_are_frozen_and_changed_copies_are_validated(clean_env: Path) -> None:
    s = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.mysql_port = 3307  # type: ignore[misc]
    moved = s.replace(mysql_port="3307", connect_url="http://connect.example:18083/")
    assert (moved.mysql_port, moved.connect_port, moved.connect_url) == (
        3307,
        18083,
        "http://connect.example:18083",
    )
    with pytest.raises(SettingsError, match="SHOPSTREAM_MYSQL_PORT"):
        s.replace(mysql_port=70000)
    with pytest.raises(SettingsError, match="SHOPSTREAM_TOPIC_EVENTS"):
        s.with_topic_prefix("bad\x00prefix").replace(topic_events=None)
    prefixed = s.with_topic_prefix("t1")
    assert prefixed.all_topics == [f"t1.{topic}" for topic in s.all_topics]
    assert prefixed.topic_env()["SHOPSTREAM_TOPIC_EVENTS"] == "t1.shop.events"


def test_a_child_built_from_as_env_has_the_same_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = Settings().with_topic_prefix("child").replace(mysql_password="pw,with%chars", spark_ui_port=4999)
    env = parent.as_env()
    assert env["SHOPSTREAM_MYSQL_PASSWORD"] == "pw,with%chars"
    assert set(env) <= {f"SHOPSTREAM_{name.upper()}" for name in Settings.model_fields}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == parent
