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
from shopstream.settings import (
    ALL,
    SECTIONS,
    Settings,
    Slice,
    describe,
    env_example,
    secret_variables,
    variables,
)


def test_defaults_point_at_the_local_stack(clean_env: Path) -> None:
    s = Settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert (s.kafka.port, s.kafka.controller_port) == (9092, 9093)
    assert s.registry.url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert (s.registry.port, s.registry.base_url) == (8081, "http://127.0.0.1:8081")
    assert (s.connect.port, s.mysql.port, s.influxdb.port) == (8083, 3306, 8086)
    assert s.topics.all == [
        "shop.events",
        "shop.events.enriched",
        "shop.kpi.campaign",
        "shop.kpi.segment",
        "shop.demographics",
        "shop.events.dlq",
        "shop.kpi.dlq",
        "shop.events.enriched.dlq",
    ]
    assert s.connect.jolokia_url == "http://127.0.0.1:8778/jolokia" and s.connect.jolokia_port == 8778
    assert s.stack.state_dir == project_dir() / ".state"


def test_environment_overrides_every_endpoint(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", "kafka-1.example:19092,kafka-2.example:19092")
    monkeypatch.setenv("SHOPSTREAM_SCHEMA_REGISTRY_URL", "https://registry.example/apis/ccompat/v7/")
    monkeypatch.setenv("SHOPSTREAM_MYSQL_PASSWORD", "s3cret")
    monkeypatch.setenv("SHOPSTREAM_STATE_DIR", str(clean_env / "state"))
    s = Settings()
    assert s.kafka.port == 19092
    assert s.registry.url == "https://registry.example/apis/ccompat/v7"
    assert (s.registry.port, s.registry.base_url) == (443, "https://registry.example")
    assert s.mysql.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.stack.state_dir == clean_env / "state"


def test_dotenv_file_is_read(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = clean_env / ".env"
    env_file.write_text("SHOPSTREAM_TOPIC_EVENTS=other.events\n")
    monkeypatch.setenv("SHOPSTREAM_ENV_FILE", str(env_file))
    assert Settings().topics.events == "other.events"
    monkeypatch.setenv("SHOPSTREAM_TOPIC_EVENTS", "env.events")  # the environment over .env
    assert Settings().topics.events == "env.events"


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
    with pytest.raises(SettingsError) as err:
        Settings()
    assert err.value.message.startswith(f"invalid setting SHOPSTREAM_{field.upper()}: ")
    assert err.value.message.count("SHOPSTREAM_") == 1


def test_unknown_setting_in_dotenv_is_rejected(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = clean_env / ".env"
    env_file.write_text("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVER=typo:9092\n")
    monkeypatch.setenv("SHOPSTREAM_ENV_FILE", str(env_file))
    with pytest.raises(SettingsError, match="SHOPSTREAM_KAFKA_BOOTSTRAP_SERVER"):
        Settings()


def test_cli_fails_fast_naming_the_env_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", "no-port")
    result = CliRunner().invoke(app, ["stack", "status"])
    assert result.exit_code == 2
    assert "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS" in result.output


def test_env_example_documents_every_setting() -> None:
    text = (project_dir() / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?(SHOPSTREAM_[A-Z0-9_]+)=", text, re.M))
    assert documented == {f"SHOPSTREAM_{name.upper()}" for name in variables()}
    assert text == env_example(), "regenerate it: python -m shopstream.settings > .env.example"


def test_every_setting_has_a_description() -> None:
    assert [variable for _, variable, _, description in describe() if not description] == []


def test_each_setting_has_one_section_and_one_variable() -> None:
    names = variables()
    assert len(names) == sum(len(cls.model_fields) for cls in SECTIONS.values())  # no variable twice
    assert names["kafka_bootstrap_servers"] == ("kafka", "bootstrap_servers")
    assert names["registry_heap"] == ("registry", "heap") and names["state_dir"] == ("stack", "state_dir")
    assert names["max_event_time_skew_s"] == ("rules", "max_event_time_skew_s")


def test_settings_are_frozen_and_changed_copies_are_validated(clean_env: Path) -> None:
    s = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        s.mysql.port = 3307  # type: ignore[misc]
    moved = s.replace(mysql_port="3307", connect_url="http://connect.example:18083/")
    assert (moved.mysql.port, moved.connect.port, moved.connect.url) == (
        3307,
        18083,
        "http://connect.example:18083",
    )
    with pytest.raises(SettingsError, match="SHOPSTREAM_MYSQL_PORT"):
        s.replace(mysql_port=70000)
    with pytest.raises(SettingsError, match="SHOPSTREAM_TOPIC_EVENTS"):
        s.with_topic_prefix("bad\x00prefix").replace(topic_events=None)
    prefixed = s.with_topic_prefix("t1")
    assert prefixed.topics.all == [f"t1.{topic}" for topic in s.topics.all]
    assert prefixed.topic_env()["SHOPSTREAM_TOPIC_EVENTS"] == "t1.shop.events"


def test_a_child_built_from_its_env_has_the_same_settings(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = Settings().with_topic_prefix("child").replace(mysql_password="pw,with%chars", spark_ui_port=4999)
    env = parent.env_for(ALL)
    assert env["SHOPSTREAM_MYSQL_PASSWORD"] == "pw,with%chars" and env["SHOPSTREAM_ENV_FILE"] == ""
    assert set(env) - {"SHOPSTREAM_ENV_FILE"} <= {f"SHOPSTREAM_{name.upper()}" for name in variables()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == parent


def test_a_child_gets_its_sections_and_its_own_secrets_only_and_reads_no_dotenv(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = {name: f"secret-{name}" for name in secret_variables()}
    parent = Settings().replace(influxdb_url="http://influx.example:8086", **secrets)
    env = parent.env_for(Slice(("kafka", "registry", "topics"), {"kafka": "producer", "registry": "reader"}))
    given = {v for v in env.values() if v.startswith("secret-")}
    assert given == {"secret-kafka_producer_password", "secret-schema_registry_reader_password"}
    assert not any(name.startswith(("SHOPSTREAM_INFLUXDB_", "SHOPSTREAM_MYSQL_")) for name in env)
    dotenv = clean_env / ".env"
    dotenv.write_text("SHOPSTREAM_INFLUXDB_ADMIN_PASSWORD=from-the-file\n")
    monkeypatch.setenv("SHOPSTREAM_ENV_FILE", str(dotenv))
    for name, value in env.items():  # the child's environment: SHOPSTREAM_ENV_FILE is empty there
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child.kafka.login("producer").secret == "secret-kafka_producer_password"
    assert child.kafka.admin_password.get_secret_value() == ""  # not given, not read from .env
    assert (
        child.influxdb.admin_password.get_secret_value() == ""
        and child.influxdb.url == "http://127.0.0.1:8086"
    )
    registry = child.registry.login("reader")
    assert registry is not None and registry.secret == "secret-schema_registry_reader_password"


def test_a_registry_role_without_a_password_is_given_the_admins_identity(clean_env: Path) -> None:
    parent = Settings().replace(schema_registry_admin_password="the-key")
    child = parent.sliced(Slice(("registry",), {"registry": "reader"}))
    login = child.registry.login("reader")
    assert login is not None and (login.user, login.secret) == ("admin", "the-key")
    assert child.registry.admin_password.get_secret_value() == ""
