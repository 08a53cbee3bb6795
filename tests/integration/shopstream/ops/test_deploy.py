"""Connectors deployed from connectors/*.json onto the real Connect worker."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.clients.connect import ConnectClient
from shopstream.clients.registry import avro_deserializer
from shopstream.connector_file import connectors_dir
from shopstream.ops import demographics
from shopstream.settings import Settings
from tests.integration.conftest import ReadTopic
from tests.integration.leftovers import token

runner = CliRunner()


@pytest.fixture
def source_dir(isolated_topics: Settings, tmp_path: Path) -> Iterator[Path]:
    """The project's source connector file under a test name and its own replication server id
    (two connectors may not share one against the same MariaDB); deleted afterwards."""
    spec = json.loads((connectors_dir() / "demographics-source.json").read_text())
    spec["name"] = f"test-source-{token()}"
    spec["config"]["database.server.id"] = str(random.randint(10_000, 60_000))
    (tmp_path / "demographics-source.json").write_text(json.dumps(spec))
    yield tmp_path
    ConnectClient(isolated_topics.connect).request("DELETE", f"/connectors/{spec['name']}")
    demographics.load(isolated_topics)  # restore rows the test changed


def _key(raw: bytes | None) -> int:
    assert raw is not None and len(raw) == 8
    return int.from_bytes(raw, "big", signed=True)


def test_source_snapshots_100k_rows_then_streams_update_and_delete(
    isolated_topics: Settings, source_dir: Path, read_topic: ReadTopic
) -> None:
    settings = isolated_topics
    demographics.load(settings)
    deployed = runner.invoke(app, ["connectors", "deploy", "--dir", str(source_dir)])
    assert deployed.exit_code == 0, deployed.output
    assert "created, RUNNING with 1 task(s)" in deployed.output

    snapshot = read_topic(settings.topics.demographics, expected=100_000, timeout_s=180)
    assert len(snapshot) == 100_000
    assert sorted(_key(m.key()) for m in snapshot) == list(range(1, 100_001))
    deserializer = avro_deserializer(settings.registry)
    ctx = SerializationContext(settings.topics.demographics, MessageField.VALUE)
    expected = {row[0]: row for row in demographics.generate(100_000, 42)}
    for message in snapshot:
        value = deserializer(message.value(), ctx)
        assert value is not None
        assert tuple(value.values()) == expected[_key(message.key())]

    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("UPDATE demographics SET age = 77 WHERE id = 7")
        cur.execute("DELETE FROM demographics WHERE id = 8")
        conn.commit()
    after = read_topic(settings.topics.demographics, expected=100_002, timeout_s=60)
    assert len(after) == 100_002
    # one key lives in one partition, where order holds: the last message per key is its latest
    seen: dict[int, int] = {}
    latest: dict[int, bytes | None] = {}
    for message in after:
        key = _key(message.key())
        seen[key] = seen.get(key, 0) + 1
        latest[key] = message.value()
    assert {key for key, count in seen.items() if count > 1} == {7, 8}
    updated = deserializer(latest[7], ctx)
    assert updated is not None and updated["age"] == 77 and updated["id"] == 7
    assert latest[8] is None  # a tombstone: the row is gone (the topic is compacted by key)


def test_deploying_twice_changes_nothing(isolated_topics: Settings, source_dir: Path) -> None:
    assert runner.invoke(app, ["connectors", "deploy", "--dir", str(source_dir)]).exit_code == 0
    diff = runner.invoke(app, ["connectors", "diff", "--dir", str(source_dir)])
    assert diff.exit_code == 0 and "no differences" in diff.output
    again = runner.invoke(app, ["connectors", "deploy", "--dir", str(source_dir)])
    assert again.exit_code == 0 and ": unchanged, RUNNING" in again.output

    spec_file = source_dir / "demographics-source.json"
    spec = json.loads(spec_file.read_text())
    spec["config"]["snapshot.mode"] = "when_needed"
    spec_file.write_text(json.dumps(spec))
    changed = runner.invoke(app, ["connectors", "diff", "--dir", str(source_dir)])
    assert changed.exit_code == 1
    assert "- snapshot.mode=initial" in changed.output and "+ snapshot.mode=when_needed" in changed.output
    assert "SHOPSTREAM_MYSQL_CDC_PASSWORD" not in changed.output or "${env:" in changed.output
    updated = runner.invoke(app, ["connectors", "deploy", "--dir", str(source_dir)])
    assert updated.exit_code == 0, updated.output
    assert ": updated (1 key), RUNNING with 1 task(s)" in updated.output
    stored = ConnectClient(isolated_topics.connect).config(spec["name"])
    assert stored is not None and stored["snapshot.mode"] == "when_needed"


def test_invalid_configs_fail_naming_the_field_and_deploy_nothing(
    isolated_topics: Settings, tmp_path: Path
) -> None:
    spec = json.loads((connectors_dir() / "demographics-source.json").read_text())
    unknown = json.loads(json.dumps(spec))
    unknown["name"] = f"test-unknown-{token()}"
    unknown["config"]["connector.class"] = "io.example.NoSuchConnector"
    missing = json.loads(json.dumps(spec))
    missing["name"] = f"test-missing-{token()}"
    del missing["config"]["topic.prefix"]
    (tmp_path / "a.json").write_text(json.dumps(unknown))
    (tmp_path / "b.json").write_text(json.dumps(missing))

    result = runner.invoke(app, ["connectors", "deploy", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing deployed" in result.output
    assert f"{unknown['name']}: connector.class: io.example.NoSuchConnector" in result.output
    assert f"{missing['name']}: topic.prefix: The 'topic.prefix' value is invalid: A value is required" in (
        result.output
    )
    deployed = ConnectClient(isolated_topics.connect).connectors()
    assert unknown["name"] not in deployed and missing["name"] not in deployed
