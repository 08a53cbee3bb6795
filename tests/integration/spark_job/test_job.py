"""The streaming job on the real stack: exact outputs, live demographics, crash and restart."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer

from producer.run import RunLimits, run
from producer.sender import EventSender
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import registry_client
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from shopstream.jobstatus import QueryStatus, SchemaRestart, read_status
from shopstream.ops import demographics
from shopstream.ops.jobs import SparkJob
from shopstream.retry import wait_until
from shopstream.settings import Settings
from tests.integration.conftest import ReadTopic
from tests.integration.spark_job.conftest import REFRESH_S
from tests.integration.spark_job.kpi_reads import (
    decoder,
    expected_campaign_kpis,
    expected_segment_kpis,
    header,
    latest_segment_kpis,
    read_all,
    send,
    wait_for_kpis,
)


@pytest.mark.parametrize("job", ["realtime", "microbatch"], indirect=True)
def test_known_events_give_exact_enriched_dlq_and_kpi_records(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    # users up to 120,000: ids above 100,000 have no demographics and must be kept, unenriched
    v1 = TrafficModel(TrafficConfig(seed=21, schema_version=1, users=120_000)).take(400)
    v2 = TrafficModel(TrafficConfig(seed=22, schema_version=2, users=120_000)).take(400)
    send(settings, v1, 1)
    send(settings, v2, 2)
    v2_id = EventSender(settings, schema_version=2).schema_id
    corrupt = [
        b"\x01not-confluent-framed",
        b"\x00\x00\x00\x7f\xff" + b"\x02abc",  # an id no writer of this subject has
        b"\x00" + v2_id.to_bytes(4, "big") + b"\x48\x01\x02",  # truncated body
        b"xy",
    ]
    producer = Producer(client_config(settings.kafka, "admin"))
    for value in corrupt:
        producer.produce(settings.topics.events, value=value, key=b"bad")
    assert producer.flush(10) == 0
    job.start()

    events = {e["event_id"]: e for e in v1 + v2}
    enriched = read_all(read_topic, settings.topics.enriched, len(events))
    decode = decoder(settings, settings.topics.enriched)
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
            (header(m, "dlq.source.partition"), header(m, "dlq.source.offset")): m
            for m in read_all(read_topic, settings.topics.events_dlq, len(corrupt))
        }.values()
    )  # one per source record
    reasons = sorted(header(m, "dlq.reason") for m in dlq)
    assert reasons == sorted([
        "bad magic byte: not Confluent-framed Avro",
        "unknown schema id 32767",
        f"undecodable Avro body for schema id {v2_id}",
        "bad magic byte: not Confluent-framed Avro",
    ])  # fmt: skip
    assert sorted(bytes(m.value() or b"") for m in dlq) == sorted(corrupt)

    expected = expected_campaign_kpis(list(events.values()))
    assert wait_for_kpis(settings, read_topic, expected) == expected
    # the same query's other family, settled by now
    assert latest_segment_kpis(settings, read_topic) == expected_segment_kpis(list(events.values()), rows)


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
    send(settings, events, 2)
    decode = decoder(settings, settings.topics.enriched)
    enriched = [decode(m) for m in read_topic(settings.topics.enriched, expected=20, timeout_s=120)]
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

    decode = decoder(settings, settings.topics.enriched)
    ids = [decode(m)["event_id"] for m in read_topic(settings.topics.enriched, expected=6_000, timeout_s=180)]
    assert set(ids) == {e["event_id"] for e in events}  # none missing (a replayed batch may repeat some)
    expected = expected_campaign_kpis(events)
    assert wait_for_kpis(settings, read_topic, expected) == expected  # repeats are not double-counted


def _status(job: SparkJob, query: str) -> QueryStatus:
    status = read_status(job.checkpoint_dir, query, pid=job.pid)
    assert status is not None, f"no status of query {query} of this run"
    return status


def _register_v3(settings: Settings) -> tuple[dict[str, Any], int]:
    """A v3 of the event contract (v2 plus an optional ``referrer``), registered: (schema, id)."""
    v3 = json.loads(load_schema(EVENT_SCHEMA_FILES[2]))
    v3["fields"].append({"name": "referrer", "type": ["null", "string"], "default": None})
    return v3, registry_client(settings.registry, "admin").register(
        f"{settings.topics.events}-value", json.dumps(v3)
    )


def _send_v3(settings: Settings, v3: dict[str, Any], v3_id: int, events: list[dict[str, Any]]) -> None:
    """The events written with v3 (``referrer`` set), Confluent-framed with its id."""
    writer = fastavro.parse_schema(v3)
    producer = Producer(client_config(settings.kafka, "admin"))
    for event in events:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, writer, {**event, "referrer": "newsletter"})
        producer.produce(settings.topics.events, value=b"\x00" + v3_id.to_bytes(4, "big") + body.getvalue())
    assert producer.flush(10) == 0


def test_a_schema_version_registered_while_running_is_decoded_not_dead_lettered(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    """Real-time Mode fixes the writer schemas of a run: a new id stops the query, which restarts
    with it. Nothing of the new version may land in the DLQ."""
    settings = job_env
    before = TrafficModel(TrafficConfig(seed=41, schema_version=2)).take(200)
    send(settings, before, 2)
    job.start()
    read_topic(settings.topics.enriched, expected=len(before), timeout_s=120)

    v3, v3_id = _register_v3(settings)
    after = TrafficModel(TrafficConfig(seed=42, schema_version=2)).take(200)
    _send_v3(settings, v3, v3_id, after)

    decode = decoder(settings, settings.topics.enriched)
    enriched = read_all(read_topic, settings.topics.enriched, len(before) + len(after))
    assert {decode(m)["event_id"] for m in enriched} == {e["event_id"] for e in before + after}
    assert read_topic(settings.topics.events_dlq, quiet_s=3, timeout_s=10) == []
    restarted = [r.schema_id for q in job.queries for r in _status(job, q).schema_restarts]
    assert v3_id in restarted


def test_a_version_registered_while_running_is_loaded_before_its_records_come(
    job_env: Settings, job: SparkJob, read_topic: ReadTopic
) -> None:
    """The runner polls the subject: both queries are restarted with a new version within seconds of
    its registration, so its records never stop a query (nor reach the DLQ)."""
    settings = job_env
    job.start()  # both queries running (their status files say so)
    v3, v3_id = _register_v3(settings)
    registered = [SchemaRestart(schema_id=v3_id, cause="registered")]

    def restarted_with_v3() -> bool:
        return all(_status(job, q).schema_restarts == registered for q in ("enrich", "kpis"))

    wait_until(restarted_with_v3, 60, "both queries restarted with v3")

    events = TrafficModel(TrafficConfig(seed=43, schema_version=2)).take(200)
    _send_v3(settings, v3, v3_id, events)

    decode = decoder(settings, settings.topics.enriched)
    enriched = read_all(read_topic, settings.topics.enriched, len(events))
    assert sorted(decode(m)["event_id"] for m in enriched) == sorted(
        e["event_id"] for e in events
    )  # once each
    assert read_topic(settings.topics.events_dlq, quiet_s=3, timeout_s=10) == []
    expected = expected_campaign_kpis(events)
    assert wait_for_kpis(settings, read_topic, expected) == expected
    # once each, before the records came: never on a record
    assert all(_status(job, q).schema_restarts == registered for q in ("enrich", "kpis"))
