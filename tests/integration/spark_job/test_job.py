"""The streaming job on the real stack: exact outputs, live demographics, crash and restart."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from typing import Any

import fastavro
import pytest
from confluent_kafka import Message, Producer
from confluent_kafka.serialization import MessageField, SerializationContext

from producer.run import RunLimits, run
from producer.sender import EventSender
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import avro_deserializer, registry_client
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from shopstream.ops import demographics
from shopstream.ops.jobs import QUERIES_RUNNING, SparkJob
from shopstream.retry import wait_until
from shopstream.settings import Settings
from spark_job.run import NEW_VERSION
from tests.integration import oracle
from tests.integration.conftest import ReadTopic
from tests.integration.spark_job.conftest import REFRESH_S


def _send(settings: Settings, events: list[dict[str, Any]], version: int) -> None:
    sender = EventSender(settings, schema_version=version)
    result = run(sender, iter(events), RunLimits(count=len(events)), report=lambda _l: None)
    assert result.counters["acked"] == len(events)


def _decoder(settings: Settings, topic: str) -> Callable[[Message], dict[str, Any]]:
    deserializer = avro_deserializer(settings)
    ctx = SerializationContext(topic, MessageField.VALUE)

    def decode(message: Message) -> dict[str, Any]:
        value = deserializer(message.value(), ctx)
        assert isinstance(value, dict)
        return value

    return decode


def _header(message: Message, name: str) -> str:
    value = dict(message.headers() or [])[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def _expected_campaign_kpis(events: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return oracle.campaign_kpis(events)


def _epoch_ms(kpi: dict[str, Any]) -> dict[str, Any]:
    """A decoded KPI record with its newest event time in epoch ms, as the oracle states it."""
    return {**kpi, "last_event_time": int(kpi["last_event_time"].timestamp() * 1000)}


def _latest_campaign_kpis(settings: Settings, read_topic: ReadTopic) -> dict[tuple[str, int], dict[str, Any]]:
    decode = _decoder(settings, settings.topic_kpi_campaign)
    latest = {}
    for message in read_topic(settings.topic_kpi_campaign, quiet_s=2, timeout_s=20):
        kpi = decode(message)
        key = (kpi["campaign_id"], int(kpi["window_start"].timestamp() * 1000))
        latest[key] = {
            k: v for k, v in _epoch_ms(kpi).items() if k not in ("campaign_id", "window_start", "window_end")
        }
    return latest


def _expected_segment_kpis(
    events: list[dict[str, Any]], people: dict[int, tuple[Any, ...]]
) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    return oracle.segment_kpis(events, people)


def _latest_segment_kpis(settings: Settings, read_topic: ReadTopic) -> dict[tuple[str, str, str, int], Any]:
    decode = _decoder(settings, settings.topic_kpi_segment)
    latest = {}
    for message in read_topic(settings.topic_kpi_segment, quiet_s=2, timeout_s=20):
        kpi = decode(message)
        window = int(kpi["window_start"].timestamp() * 1000)
        key = (kpi["gender"], kpi["age_band"], kpi["state"], window)
        latest[key] = {
            k: _epoch_ms(kpi)[k] for k in ("revenue_cents", "purchases", "users", "last_event_time")
        }
    return latest


def _read_all(read_topic: ReadTopic, topic: str, at_least: int) -> list[Message]:
    """Everything in the topic once it holds ``at_least`` records and went quiet."""
    read_topic(topic, expected=at_least, timeout_s=180)
    return read_topic(topic, quiet_s=3, timeout_s=60)


def _wait_for_kpis(settings: Settings, read_topic: ReadTopic, expected: dict[Any, Any]) -> dict[Any, Any]:
    deadline = time.monotonic() + 120
    latest: dict[Any, Any] = {}
    while time.monotonic() < deadline:
        latest = _latest_campaign_kpis(settings, read_topic)
        if latest == expected:
            break
        time.sleep(2)
    return latest


@pytest.mark.parametrize("job", ["realtime", "microbatch"], indirect=True)
def test_known_events_give_exact_enriched_dlq_and_kpi_records(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    # users up to 120,000: ids above 100,000 have no demographics and must be kept, unenriched
    v1 = TrafficModel(TrafficConfig(seed=21, schema_version=1, users=120_000)).take(400)
    v2 = TrafficModel(TrafficConfig(seed=22, schema_version=2, users=120_000)).take(400)
    _send(settings, v1, 1)
    _send(settings, v2, 2)
    v2_id = EventSender(settings, schema_version=2).schema_id
    corrupt = [
        b"\x01not-confluent-framed",
        b"\x00\x00\x00\x7f\xff" + b"\x02abc",  # an id no writer of this subject has
        b"\x00" + v2_id.to_bytes(4, "big") + b"\x48\x01\x02",  # truncated body
        b"xy",
    ]
    producer = Producer(client_config(settings, "admin"))
    for value in corrupt:
        producer.produce(settings.topic_events, value=value, key=b"bad")
    assert producer.flush(10) == 0
    job.start()

    events = {e["event_id"]: e for e in v1 + v2}
    enriched = _read_all(read_topic, settings.topic_enriched, len(events))
    decode = _decoder(settings, settings.topic_enriched)
    rows = {row[0]: row for row in demographics.generate(100_000, 42)}
    # in realtime mode the id 32767 stops the first run, which the restart replays: the Kafka sink is
    # at-least-once, so an event may be written twice (the KPI queries drop the repeats)
    decoded = list({d["event_id"]: d for d in map(decode, enriched)}.values())
    assert sorted(d["event_id"] for d in decoded) == sorted(events)
    unknown = 0
    for d in decoded:
        source = events[d["event_id"]]
        assert d["total_amount_cents"] == source["total_amount_cents"] and d["tag"] == source["tag"]
        assert d["device"] == source.get("device")
        row = rows.get(d["user_id"])
        if row is None:
            unknown += 1
            assert [d[k] for k in ("age", "age_band", "gender", "state", "country")] == [None] * 5
        else:
            assert (d["age"], d["gender"], d["state"], d["country"]) == row[1:]
            assert d["age_band"] is not None
    assert unknown > 0

    dlq = list(
        {
            (_header(m, "dlq.source.partition"), _header(m, "dlq.source.offset")): m
            for m in _read_all(read_topic, settings.topic_events_dlq, len(corrupt))
        }.values()
    )  # one per source record
    reasons = sorted(_header(m, "dlq.reason") for m in dlq)
    assert reasons == sorted([
        "bad magic byte: not Confluent-framed Avro",
        "unknown schema id 32767",
        f"undecodable Avro body for schema id {v2_id}",
        "bad magic byte: not Confluent-framed Avro",
    ])  # fmt: skip
    assert sorted(bytes(m.value() or b"") for m in dlq) == sorted(corrupt)

    expected = _expected_campaign_kpis(list(events.values()))
    assert _wait_for_kpis(settings, read_topic, expected) == expected
    # the same query's other family, settled by now
    assert _latest_segment_kpis(settings, read_topic) == _expected_segment_kpis(list(events.values()), rows)


def test_a_demographic_update_reaches_later_events(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    job.start()
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("UPDATE demographics SET state = 'ZZ', age = 19 WHERE id = 42")
        conn.commit()
    time.sleep(REFRESH_S + 5)  # the refresh interval and a margin
    events = [{**e, "user_id": 42} for e in TrafficModel(TrafficConfig(seed=5)).take(20)]
    _send(settings, events, 2)
    decode = _decoder(settings, settings.topic_enriched)
    enriched = [decode(m) for m in read_topic(settings.topic_enriched, expected=20, timeout_s=120)]
    assert {(d["state"], d["age"], d["age_band"]) for d in enriched} == {("ZZ", 19, "18-24")}


def test_a_killed_job_restarts_from_its_checkpoint_and_loses_nothing(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    events = TrafficModel(TrafficConfig(seed=31, events_per_second=2_000)).take(6_000)
    job.start()
    sender = EventSender(settings)
    run(sender, iter(events[:3_000]), RunLimits(rate=2_000, count=3_000), report=lambda _l: None)
    job.stop(kill=True)  # a crash: SIGKILL to the driver and its JVM, no clean shutdown
    run(sender, iter(events[3_000:]), RunLimits(rate=2_000, count=3_000), report=lambda _l: None)
    job.start()

    decode = _decoder(settings, settings.topic_enriched)
    ids = [decode(m)["event_id"] for m in read_topic(settings.topic_enriched, expected=6_000, timeout_s=180)]
    assert set(ids) == {e["event_id"] for e in events}  # none missing (a replayed batch may repeat some)
    expected = _expected_campaign_kpis(events)
    assert _wait_for_kpis(settings, read_topic, expected) == expected  # repeats are not double-counted


def _register_v3(settings: Settings) -> tuple[dict[str, Any], int]:
    """A v3 of the event contract (v2 plus an optional ``referrer``), registered: (schema, id)."""
    v3 = json.loads(load_schema(EVENT_SCHEMA_FILES[2]))
    v3["fields"].append({"name": "referrer", "type": ["null", "string"], "default": None})
    return v3, registry_client(settings, "admin").register(f"{settings.topic_events}-value", json.dumps(v3))


def _send_v3(settings: Settings, v3: dict[str, Any], v3_id: int, events: list[dict[str, Any]]) -> None:
    """The events written with v3 (``referrer`` set), Confluent-framed with its id."""
    writer = fastavro.parse_schema(v3)
    producer = Producer(client_config(settings, "admin"))
    for event in events:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, writer, {**event, "referrer": "newsletter"})
        producer.produce(settings.topic_events, value=b"\x00" + v3_id.to_bytes(4, "big") + body.getvalue())
    assert producer.flush(10) == 0


def test_a_schema_version_registered_while_running_is_decoded_not_dead_lettered(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    """Real-time Mode fixes the writer schemas of a run: a new id stops the query, which restarts
    with it. Nothing of the new version may land in the DLQ."""
    settings = job_env
    before = TrafficModel(TrafficConfig(seed=41, schema_version=2)).take(200)
    _send(settings, before, 2)
    job.start()
    read_topic(settings.topic_enriched, expected=len(before), timeout_s=120)

    v3, v3_id = _register_v3(settings)
    after = TrafficModel(TrafficConfig(seed=42, schema_version=2)).take(200)
    _send_v3(settings, v3, v3_id, after)

    decode = _decoder(settings, settings.topic_enriched)
    enriched = _read_all(read_topic, settings.topic_enriched, len(before) + len(after))
    assert {decode(m)["event_id"] for m in enriched} == {e["event_id"] for e in before + after}
    assert read_topic(settings.topic_events_dlq, quiet_s=3, timeout_s=10) == []
    assert f"schema id {v3_id} registered since the start: restarting to decode it" in job.log.read_text()


def test_a_version_registered_while_running_is_loaded_before_its_records_come(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    """The runner polls the subject: both queries are restarted with a new version within seconds of
    its registration, so its records never stop a query (nor reach the DLQ)."""
    settings = job_env
    job.start()
    wait_until(lambda: f"{QUERIES_RUNNING}enrich, kpis" in job.log.read_text(), 60, "both queries started")
    v3, v3_id = _register_v3(settings)
    restarted = [f"query {name}: schema id {v3_id} {NEW_VERSION}" for name in ("enrich", "kpis")]
    wait_until(lambda: all(line in job.log.read_text() for line in restarted), 60, "restarts with v3")

    events = TrafficModel(TrafficConfig(seed=43, schema_version=2)).take(200)
    _send_v3(settings, v3, v3_id, events)

    decode = _decoder(settings, settings.topic_enriched)
    enriched = _read_all(read_topic, settings.topic_enriched, len(events))
    assert sorted(decode(m)["event_id"] for m in enriched) == sorted(
        e["event_id"] for e in events
    )  # once each
    assert read_topic(settings.topic_events_dlq, quiet_s=3, timeout_s=10) == []
    expected = _expected_campaign_kpis(events)
    assert _wait_for_kpis(settings, read_topic, expected) == expected
    lines = job.log.read_text().splitlines()
    assert [line for line in lines if NEW_VERSION in line] == restarted  # once each, not on a record
