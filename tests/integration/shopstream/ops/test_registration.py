"""Contracts in the real registry: register, BACKWARD evolution, rejection with reasons."""

from __future__ import annotations

import pytest
from confluent_kafka.serialization import MessageField, SerializationContext
from typer.testing import CliRunner

from producer.sender import EventSender
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.cli import app
from shopstream.clients.registry import avro_deserializer, registry_client
from shopstream.contracts import CONTRACTS, avro_dir, load_schema
from shopstream.errors import RegistryError
from shopstream.settings import Settings
from tests.integration.conftest import ReadTopic

runner = CliRunner()


def test_register_creates_every_value_subject_with_backward(isolated_topics: Settings) -> None:
    result = runner.invoke(app, ["schemas", "register"])
    assert result.exit_code == 0, result.output
    registry = registry_client(isolated_topics.registry, "admin")
    for contract in CONTRACTS:
        info = registry.info(contract.subject(isolated_topics))
        assert info.versions == [1]
        assert info.compatibility == "BACKWARD"
    again = runner.invoke(app, ["schemas", "register"])  # idempotent
    assert again.exit_code == 0 and "already has versions [1]" in again.output


def test_v2_is_accepted_and_v1_v2_events_share_one_topic(
    isolated_topics: Settings, read_topic: ReadTopic
) -> None:
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    subject = f"{isolated_topics.topics.events}-value"
    check = runner.invoke(app, ["schemas", "check", str(avro_dir() / "shop_event.v2.avsc"), "-s", subject])
    assert check.exit_code == 0, check.output
    evolve = runner.invoke(app, ["schemas", "evolve", "--subject", subject])
    assert evolve.exit_code == 0, evolve.output
    registry = registry_client(isolated_topics.registry, "admin")
    assert registry.versions(subject) == [1, 2]

    sent = {}
    for version in (1, 2):
        sender = EventSender(isolated_topics, schema_version=version)
        for event in TrafficModel(TrafficConfig(seed=version, schema_version=version)).take(50):
            sender.send(event)
            sent[event["event_id"]] = (version, event)
        assert sender.flush(30) == 0 and sender.counters.acked == 50

    deserializer = avro_deserializer(isolated_topics.registry)
    ctx = SerializationContext(isolated_topics.topics.events, MessageField.VALUE)
    messages = read_topic(isolated_topics.topics.events, expected=100)
    assert len(messages) == 100
    ids_by_version = {1: registry.version(subject, 1)["id"], 2: registry.version(subject, 2)["id"]}
    for message in messages:
        raw = message.value()
        assert raw is not None
        decoded = deserializer(raw, ctx)
        assert decoded is not None
        version, event = sent[decoded["event_id"]]
        assert int.from_bytes(raw[1:5], "big") == ids_by_version[version]
        expected = {**event, "event_time": decoded["event_time"]}  # decoded as datetime
        assert {k: v for k, v in decoded.items() if k != "event_time"} == {
            k: v for k, v in expected.items() if k != "event_time"
        }
        assert int(decoded["event_time"].timestamp() * 1000) == event["event_time"]
        assert ("device" in decoded) == (version == 2)


def test_incompatible_candidate_is_rejected_with_reason_and_nothing_registered(
    isolated_topics: Settings,
) -> None:
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    subject = f"{isolated_topics.topics.events}-value"
    registry = registry_client(isolated_topics.registry, "admin")
    before = registry.versions(subject)
    candidate = avro_dir() / "candidates" / "shop_event.units_as_string.avsc"
    result = runner.invoke(app, ["schemas", "check", str(candidate), "-s", subject])
    assert result.exit_code == 1
    assert "NOT compatible" in result.output
    assert "STRING not compatible with writer type: INT" in result.output  # the registry's own reason
    assert registry.versions(subject) == before == [1]
    # registering it anyway (as a producer with auto-registration would): the registry refuses it
    with pytest.raises(RegistryError, match=r"refused: 409 .*(?i:incompatible)"):
        registry.register(subject, load_schema(candidate))
    assert registry.versions(subject) == [1]
