"""Reading what the Spark job wrote: decoded KPI records (the latest per key) and enriched records;
sending events as our producer does. Shared by the Spark job's integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message
from confluent_kafka.serialization import MessageField, SerializationContext

from producer.run import RunLimits, run
from producer.sender import EventSender
from shopstream.clients.registry import avro_deserializer
from shopstream.settings import Settings
from tests import oracle
from tests.integration.conftest import ReadTopic


def send(settings: Settings, events: list[dict[str, Any]], version: int) -> None:
    sender = EventSender(settings, schema_version=version)
    result = run(sender, iter(events), RunLimits(count=len(events)), report=lambda _l: None)
    assert result.counters["acked"] == len(events)


def decoder(settings: Settings, topic: str) -> Callable[[Message], dict[str, Any]]:
    deserializer = avro_deserializer(settings.registry)
    ctx = SerializationContext(topic, MessageField.VALUE)

    def decode(message: Message) -> dict[str, Any]:
        value = deserializer(message.value(), ctx)
        assert isinstance(value, dict)
        return value

    return decode


def header(message: Message, name: str) -> str:
    value = dict(message.headers() or [])[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def expected_campaign_kpis(events: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return oracle.campaign_kpis(events)


def _epoch_ms(kpi: dict[str, Any]) -> dict[str, Any]:
    """A decoded KPI record with its newest event time in epoch ms, as the oracle states it."""
    return {**kpi, "last_event_time": int(kpi["last_event_time"].timestamp() * 1000)}


def latest_campaign_kpis(settings: Settings, read_topic: ReadTopic) -> dict[tuple[str, int], dict[str, Any]]:
    decode = decoder(settings, settings.topics.kpi_campaign)
    latest = {}
    for message in read_topic(settings.topics.kpi_campaign, quiet_s=2, timeout_s=20):
        kpi = decode(message)
        key = (kpi["campaign_id"], int(kpi["window_start"].timestamp() * 1000))
        latest[key] = {
            k: v for k, v in _epoch_ms(kpi).items() if k not in ("campaign_id", "window_start", "window_end")
        }
    return latest


def expected_segment_kpis(
    events: list[dict[str, Any]], people: dict[int, tuple[Any, ...]]
) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    return oracle.segment_kpis(events, people)


def latest_segment_kpis(settings: Settings, read_topic: ReadTopic) -> dict[tuple[str, str, str, int], Any]:
    decode = decoder(settings, settings.topics.kpi_segment)
    latest = {}
    for message in read_topic(settings.topics.kpi_segment, quiet_s=2, timeout_s=20):
        kpi = decode(message)
        window = int(kpi["window_start"].timestamp() * 1000)
        key = (kpi["gender"], kpi["age_band"], kpi["state"], window)
        latest[key] = {
            k: _epoch_ms(kpi)[k] for k in ("revenue_cents", "purchases", "users", "last_event_time")
        }
    return latest


def read_all(read_topic: ReadTopic, topic: str, at_least: int) -> list[Message]:
    """Everything in the topic once it holds ``at_least`` records and went quiet."""
    read_topic(topic, expected=at_least, timeout_s=180)
    return read_topic(topic, quiet_s=3, timeout_s=60)


def wait_for_kpis(settings: Settings, read_topic: ReadTopic, expected: dict[Any, Any]) -> dict[Any, Any]:
    deadline = time.monotonic() + 120
    latest: dict[Any, Any] = {}
    while time.monotonic() < deadline:
        latest = latest_campaign_kpis(settings, read_topic)
        if latest == expected:
            break
        time.sleep(2)
    return latest
