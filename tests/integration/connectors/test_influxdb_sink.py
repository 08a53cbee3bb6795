"""shopstream's InfluxDB sink connector (connectors/influxdb-sink) on the real stack: the project's
connector files deployed onto the real Connect worker, writing to the real InfluxDB; records produced
as Avro under the registered contracts; points read back over InfluxDB's HTTP API, dead letters from
Kafka, metrics from the worker's Jolokia agent. No mocks.

Expected points are spelled out from the documented mapping (connectors/influxdb-sink/README.md and
the connector files): tags = the dimension fields, time = the event time field, fields = every other
non-null field except ``fields.exclude``; longs and timestamps as integers, doubles as floats."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest
import requests
from typer.testing import CliRunner

from shopstream.bench.records import enriched_events
from shopstream.cli import app
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import registry_client
from shopstream.connector_file import connectors_dir
from shopstream.contracts import (
    contract_for_subject,
    disambiguated_ns,
    kpi_campaign,
    kpi_segment,
    load_schema,
    schema_fields,
    shop_events,
    subject,
)
from shopstream.errors import ShopstreamError
from shopstream.retry import NotYet, wait_until
from shopstream.stack.stack import Stack
from tests.integration.conftest import ReadTopic
from tests.integration.connectors.conftest import Sink, SinkFile, avro_records, now_ms, produce, register

SINK_CLASS = "io.shopstream.connect.influxdb.InfluxDbSinkConnector"
CAMPAIGN, SEGMENT, EVENTS = "influxdb-kpi-campaign.json", "influxdb-kpi-segment.json", "influxdb-events.json"
Record = dict[str, Any]


# --- expected points, from the documented mapping -------------------------------------------------
def _is_timestamp(avro_type: Any) -> bool:
    return isinstance(avro_type, dict) and avro_type.get("logicalType") == "timestamp-millis"


def kpi_record(schema_file: str, dims: dict[str, str], window_start: int, rng: random.Random) -> Record:
    """A KPI record of the contract's latest version: the dimensions, the window, and a value for
    every other field by its type (timestamps inside the window)."""
    record: Record = {**dims, "window_start": window_start, "window_end": window_start + 60_000}
    for f in schema_fields(schema_file):
        if f["name"] in record:
            continue
        if _is_timestamp(f["type"]):
            record[f["name"]] = window_start + rng.randrange(60_000)
        elif f["type"] == "double":
            record[f["name"]] = rng.randrange(1, 1_000) / rng.randrange(1_001, 7_919)  # not short decimals
        else:
            record[f["name"]] = rng.randrange(0, 1_000_000)
    return record


def kpi_point(record: Record, tags: tuple[str, ...]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(time ms, tags, fields) the KPI connectors write: time = window_start, window_end excluded."""
    fields = {k: v for k, v in record.items() if k not in (*tags, "window_start", "window_end")}
    return record["window_start"], {t: record[t] for t in tags}, fields


Points = list[tuple[int, dict[str, str], dict[str, Any]]]


def ordered(points: Points) -> Points:
    return sorted(points, key=lambda p: (p[0], sorted(p[1].items())))


def stored_points(sink: Sink, measurement: str, tags: tuple[str, ...]) -> Points:
    points: Points = []
    for row in sink.rows(f'SELECT * FROM "{measurement}"'):
        fields = {k: v for k, v in row.items() if k != "time" and k not in tags and v is not None}
        points.append((row["time"], {t: row[t] for t in tags if row.get(t) is not None}, fields))
    return ordered(points)


def expected_types(schema_file: str, skip: set[str]) -> dict[str, str]:
    return {
        f["name"]: "float" if f["type"] == "double" else "integer"
        for f in schema_fields(schema_file)
        if f["name"] not in skip
    }


def stop_reset_resume(sink: Sink, name: str, topic: str) -> None:
    """KIP-875: stop the connector, delete its offsets, resume it."""
    assert sink.connect.request("PUT", f"/connectors/{name}/stop").status_code == 204

    def stopped() -> bool:
        status = sink.status(name)
        if status["connector"]["state"] != "STOPPED" or status["tasks"]:
            raise NotYet(json.dumps(status))
        return True

    wait_until(stopped, 30, f"{name} STOPPED")
    assert sink.metrics(name) == {}  # the task's metrics are gone: the resumed task counts from 0
    reset = sink.connect.request("DELETE", f"/connectors/{name}/offsets")
    assert reset.status_code == 200, reset.text
    assert "offsets for this connector have been reset successfully" in reset.json()["message"].lower()
    assert sink.committed(name, topic) == {}
    assert sink.connect.request("PUT", f"/connectors/{name}/resume").status_code == 202


# --- the tests ---------------------------------------------------------------------------------------
def test_connector_plugins_lists_the_sink_with_its_version(sink: Sink) -> None:
    pom = ET.parse(connectors_dir() / "influxdb-sink" / "pom.xml").getroot()
    version = pom.findtext("{http://maven.apache.org/POM/4.0.0}version")
    plugins = sink.connect.json("GET", "/connector-plugins")
    assert {"class": SINK_CLASS, "type": "sink", "version": version} in plugins


def test_kpi_records_give_exactly_their_points_and_a_replay_adds_none(sink: Sink) -> None:
    s, rng = sink.settings, random.Random(1)
    campaign, segment = SinkFile.of(CAMPAIGN), SinkFile.of(SEGMENT)
    campaign_id = register(s, s.topics.kpi_campaign, campaign.schema_file)
    segment_id = register(s, s.topics.kpi_segment, segment.schema_file)
    start = now_ms() // 60_000 * 60_000 - 10 * 60_000
    campaigns = [
        kpi_record(campaign.schema_file, {"campaign_id": f"cmp-{c:03d}"}, start + w * 60_000, rng)
        for w in range(2)
        for c in range(3)
    ]
    campaigns[0]["revenue_cents"] = 2**53 + 1  # exact as an integer, not through a double
    campaigns[1]["conversion_rate"] = 0.1 + 0.2  # 0.30000000000000004 exactly
    update = {**campaigns[4], "views": campaigns[4]["views"] + 7, "conversion_rate": 1 / 3}  # same window
    segments = [
        kpi_record(segment.schema_file, {"gender": g, "age_band": a, "state": st}, start, rng)
        for g, a, st in (("F", "25-34", "CA"), ("M", "65+", "NY"), ("X", "18-24", "NSW"))
    ]
    segments.append({**segments[1], "revenue_cents": segments[1]["revenue_cents"] + 1})  # an update
    key = "campaign_id"
    produce(s, s.topics.kpi_campaign, avro_records(campaign, campaign_id, [*campaigns, update], key))
    produce(s, s.topics.kpi_segment, avro_records(segment, segment_id, segments, "gender"))

    names = {
        sink.deploy(CAMPAIGN): (s.topics.kpi_campaign, 7),
        sink.deploy(SEGMENT): (s.topics.kpi_segment, 4),
    }
    for name, (topic, records) in names.items():
        sink.wait_metric(name, "records-written-total", records)
        sink.wait_committed_to_end(name, topic)

    campaign_tags, segment_tags = ("campaign_id",), ("age_band", "gender", "state")
    want_campaign = ordered([kpi_point(r, campaign_tags) for r in [*campaigns[:4], update, campaigns[5]]])
    want_segment = ordered([kpi_point(r, segment_tags) for r in [segments[0], segments[3], segments[2]]])
    assert stored_points(sink, "kpi_campaign", campaign_tags) == want_campaign
    assert stored_points(sink, "kpi_segment", segment_tags) == want_segment
    skip = {"window_start", "window_end"}
    assert sink.field_types('"kpi_campaign"') == expected_types(campaign.schema_file, skip | {"campaign_id"})
    assert sink.field_types('"kpi_segment"') == expected_types(segment.schema_file, skip | set(segment_tags))
    # the measurement contract (Grafana's) says the same
    contract = kpi_campaign()
    assert set(contract.integer_fields) == {
        k for k, v in sink.field_types('"kpi_campaign"').items() if v == "integer"
    }
    assert set(contract.float_fields) == {
        k for k, v in sink.field_types('"kpi_campaign"').items() if v == "float"
    }
    assert set(kpi_segment().tags) == set(segment_tags)

    # the same records again: offsets reset, the records re-consumed, not one point more
    campaign_name = next(iter(names))
    stop_reset_resume(sink, campaign_name, s.topics.kpi_campaign)
    sink.wait_metric(campaign_name, "records-written-total", 7)  # the new task's counters start at 0
    sink.wait_committed_to_end(campaign_name, s.topics.kpi_campaign)
    assert stored_points(sink, "kpi_campaign", campaign_tags) == want_campaign
    assert sink.status(campaign_name)["tasks"][0]["state"] == "RUNNING"


def test_a_type_conflict_sends_that_record_alone_to_the_dlq(sink: Sink, read_topic: ReadTopic) -> None:
    s, rng = sink.settings, random.Random(2)
    mapping = SinkFile.of(CAMPAIGN)
    topic = s.topics.kpi_campaign
    good_id = register(s, topic, mapping.schema_file)
    start = now_ms() // 60_000 * 60_000 - 5 * 60_000
    records = [kpi_record(mapping.schema_file, {"campaign_id": f"cmp-{i:03d}"}, start, rng) for i in range(5)]
    name = sink.deploy(CAMPAIGN)
    produce(s, topic, avro_records(mapping, good_id, records[:3], "campaign_id"), partition=0)
    sink.wait_metric(name, "records-written-total", 3)  # `views` is now an integer field of the series

    # the writer's contract changes views to a double (BACKWARD-compatible in Avro): one record
    conflicting = json.loads(load_schema(mapping.schema_file))
    for f in conflicting["fields"]:
        if f["name"] == "views":
            f["type"] = "double"
    bad_id = registry_client(s.registry, "admin").register(subject(topic), json.dumps(conflicting))
    assert bad_id != good_id
    bad_record = {**kpi_record(mapping.schema_file, {"campaign_id": "cmp-bad"}, start, rng), "views": 2.5}
    out = io.BytesIO(struct.pack(">bI", 0, bad_id))
    out.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(out, fastavro.parse_schema(conflicting), bad_record)
    bad_bytes = out.getvalue()
    batch = [
        (b"cmp-003", mapping.avro(records[3], good_id)),
        (b"cmp-bad", bad_bytes),
        (b"cmp-004", mapping.avro(records[4], good_id)),
    ]
    produce(s, topic, batch, partition=0)
    sink.wait_metric(name, "records-dlq-total", 1)
    sink.wait_metric(name, "records-written-total", 5)

    [dead] = read_topic(s.topics.kpi_dlq, expected=1, timeout_s=30)
    [source] = [m for m in read_topic(topic, expected=6, timeout_s=30) if m.value() == bad_bytes]
    assert dead.value() == bad_bytes and dead.key() == b"cmp-bad"
    raw_headers: dict[str, Any] = dict(dead.headers() or [])
    headers = {k: v.decode() for k, v in raw_headers.items()}
    assert headers["__connect.errors.topic"] == topic
    assert headers["__connect.errors.partition"] == "0"
    assert headers["__connect.errors.offset"] == str(source.offset())
    assert headers["__connect.errors.connector.name"] == name
    assert headers["__connect.errors.stage"] == "TASK_PUT"
    message = headers["__connect.errors.exception.message"]
    assert "HTTP 400" in message and "field type conflict" in message and '"views"' in message
    assert "is type float, already exists as type integer" in message
    assert "cmp-bad" in message  # the refused line
    want = ordered([kpi_point(r, ("campaign_id",)) for r in records])
    assert stored_points(sink, "kpi_campaign", ("campaign_id",)) == want
    status = sink.status(name)
    assert status["connector"]["state"] == "RUNNING" and status["tasks"][0]["state"] == "RUNNING"
    assert sink.total(name, "records-dlq-total") == 1


ERROR_HANDLING = (
    "errors.tolerance",
    "errors.log.enable",
    "errors.deadletterqueue.topic.name",
    "errors.deadletterqueue.topic.replication.factor",
    "errors.deadletterqueue.context.headers.enable",
)


def _views_as_double(schema_file: str) -> dict[str, Any]:
    """The KPI contract with ``views`` a double: BACKWARD-compatible in Avro, a field type conflict
    in InfluxDB where the series holds integers."""
    conflicting: dict[str, Any] = json.loads(load_schema(schema_file))
    for f in conflicting["fields"]:
        if f["name"] == "views":
            f["type"] = "double"
    return conflicting


def test_with_connects_default_error_handling_a_refused_record_is_never_committed_past(sink: Sink) -> None:
    """errors.tolerance=none (Connect's default), no DLQ: 50 good records, one InfluxDB refuses, 100
    good ones. The task fails; the group's offset stays at the refused record; a restarted task fails
    on it again, and its offset is still never committed."""
    s, rng = sink.settings, random.Random(17)
    mapping = SinkFile.of(CAMPAIGN)
    topic = s.topics.kpi_campaign
    good_id = register(s, topic, mapping.schema_file)
    start = now_ms() // 60_000 * 60_000 - 5 * 60_000
    records = [
        kpi_record(mapping.schema_file, {"campaign_id": f"cmp-{i:03d}"}, start, rng) for i in range(150)
    ]
    conflicting = _views_as_double(mapping.schema_file)
    bad_id = registry_client(s.registry, "admin").register(subject(topic), json.dumps(conflicting))
    out = io.BytesIO(struct.pack(">bI", 0, bad_id))
    out.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(
        out, fastavro.parse_schema(conflicting), {**records[0], "campaign_id": "cmp-bad"}
    )
    produce(s, topic, avro_records(mapping, good_id, records[:50], "campaign_id"), partition=0)
    produce(s, topic, [(b"cmp-bad", out.getvalue())], partition=0)  # offset 50
    produce(s, topic, avro_records(mapping, good_id, records[50:], "campaign_id"), partition=0)
    name = sink.deploy_without(CAMPAIGN, ERROR_HANDLING, running=False)

    def failed() -> bool:
        if sink.task_states(name) != ["FAILED"]:
            raise NotYet(str(sink.task_states(name)))
        return True

    want = ordered([kpi_point(r, ("campaign_id",)) for r in records])
    for attempt in (1, 2):
        wait_until(failed, 90, f"{name}: task FAILED (attempt {attempt})")
        trace = sink.status(name)["tasks"][0]["trace"]
        assert f"{topic}-0@50" in trace and "field type conflict" in trace
        wait_until(lambda: sink.committed(name, topic).get(0) == 50, 30, "the group's offset at 50")
        time.sleep(3)  # and it stays there
        committed = sink.committed(name, topic)  # partitions 1 and 2 hold nothing: at 0 when committed
        assert committed[0] == 50 and {o for p, o in committed.items() if p != 0} <= {0}  # never past it
        assert stored_points(sink, "kpi_campaign", ("campaign_id",)) == want  # the 150 good ones
        if attempt == 1:
            restart = sink.connect.request("POST", f"/connectors/{name}/tasks/0/restart")
            assert restart.status_code in (202, 204), restart.text
            wait_until(lambda: sink.task_states(name) != ["FAILED"], 30, f"{name}: task restarted")


def _enriched_producer(
    sink: Sink, mapping: SinkFile, schema_id: int, rate: float, stop: threading.Event, sent: list[Record]
) -> None:
    """Produce enriched events at ``rate`` per second until ``stop`` is set (each acknowledged)."""
    from confluent_kafka import Producer

    producer = Producer({**client_config(sink.base.kafka, "admin"), "acks": "all", "linger.ms": 5})
    records = enriched_events(10_000_000, seed=3, start_ms=now_ms() - 600_000, span_ms=600_000_000)
    began = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - began) * rate)
        while len(sent) < due:
            record = next(records)
            producer.produce(
                sink.settings.topics.enriched, mapping.avro(record, schema_id), str(record["user_id"])
            )
            sent.append(record)
        producer.poll(0.05)
    assert producer.flush(60) == 0


def test_influxdb_stopped_for_30_s_mid_stream_loses_and_duplicates_nothing(sink: Sink, stack: Stack) -> None:
    if not stack.supervisor.is_running():
        pytest.skip("needs the local stack's supervisor to stop InfluxDB")
    s = sink.settings
    mapping = SinkFile.of(EVENTS)
    schema_id = register(s, s.topics.enriched, mapping.schema_file)
    name = sink.deploy(EVENTS)
    stop, sent = threading.Event(), list[Record]()
    producer = threading.Thread(target=_enriched_producer, args=(sink, mapping, schema_id, 300, stop, sent))
    producer.start()
    influx = stack.service("influxdb")
    try:
        try:
            wait_until(lambda: sink.total(name, "points-written-total") > 0, 60, f"{name}: first points")
            stack.supervisor.stop("influxdb")
            stopped_at, sent_at_stop = time.monotonic(), len(sent)
            assert stack.supervisor.state("influxdb") == "STOPPED"
            with pytest.raises(requests.ConnectionError):
                requests.get(f"{s.influxdb.url}/ping", timeout=2)
            time.sleep(30)
            assert sink.total(name, "retries-total") >= 1  # it did try, and failed
            assert all(t["state"] == "RUNNING" for t in sink.status(name)["tasks"])
        finally:
            if stack.supervisor.state("influxdb") != "RUNNING":
                stack.supervisor.start("influxdb")
            wait_until(influx.probe, 60, "InfluxDB healthy again")
        down_s, sent_while_down = time.monotonic() - stopped_at, len(sent) - sent_at_stop
        assert sent_while_down >= 250 * 30  # the stream went on while InfluxDB was down
        time.sleep(5)
    finally:
        stop.set()
        producer.join(60)
    assert not producer.is_alive()
    n = len(sent)
    sink.wait_metric(name, "records-written-total", n, timeout_s=120)

    where = '"events_7d"."shop_events"'
    [counts] = sink.rows(f'SELECT count("event_id") AS n, count(distinct("event_id")) AS d FROM {where}')
    assert (counts["n"], counts["d"]) == (n, n)
    ids = [row["event_id"] for row in sink.rows(f'SELECT "event_id" FROM {where}')]
    assert sorted(ids) == sorted(r["event_id"] for r in sent)
    status = sink.status(name)
    assert status["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in status["tasks"]] == ["RUNNING"] * s.topics.partitions
    assert sink.total(name, "records-dlq-total") == 0
    assert sink.total(name, "consecutive-failures") == 0
    assert down_s >= 30


def _acked_producer(
    sink: Sink, mapping: SinkFile, schema_id: int, rate: float, stop: threading.Event, acked: list[str]
) -> None:
    """Enriched events at ``rate`` per second until ``stop``; ``acked`` gets the event id of each one
    the broker acknowledged (an idempotent producer: a retry after a broker's death adds no copy)."""
    from confluent_kafka import Producer

    def delivered(event_id: str) -> Callable[[Any, Any], None]:
        def report(error: Any, _message: Any) -> None:
            if error is None:
                acked.append(event_id)

        return report

    producer = Producer(
        {**client_config(sink.base.kafka, "admin"), "acks": "all", "enable.idempotence": True}
    )
    records = enriched_events(10_000_000, seed=9, start_ms=now_ms() - 600_000, span_ms=600_000_000)
    topic, began, sent = sink.settings.topics.enriched, time.monotonic(), 0
    while not stop.is_set():
        while sent < int((time.monotonic() - began) * rate):
            record = next(records)
            value, key = mapping.avro(record, schema_id), str(record["user_id"])
            producer.produce(topic, value, key, on_delivery=delivered(record["event_id"]))
            sent += 1
        producer.poll(0.02)
    assert producer.flush(120) == 0


def test_kill_9_of_the_broker_under_load_every_sink_task_runs_again_and_nothing_is_lost(
    sink: Sink, stack: Stack
) -> None:
    """The three sink connectors, 3,000 events/s into the events one; kill -9 of the broker: the
    supervisor restarts it, every sink task is RUNNING within 60 s of the broker being back (none
    dies on a metric name a stuck predecessor still holds), every acknowledged event is one point."""
    if not stack.supervisor.is_running():
        pytest.skip("needs the local stack's supervisor to kill the broker")
    s = sink.settings
    mapping = SinkFile.of(EVENTS)
    schema_id = register(s, s.topics.enriched, mapping.schema_file)
    names = [sink.deploy(EVENTS), sink.deploy(CAMPAIGN), sink.deploy(SEGMENT)]
    stop, acked = threading.Event(), list[str]()
    producer = threading.Thread(target=_acked_producer, args=(sink, mapping, schema_id, 3000, stop, acked))
    producer.start()
    kafka = stack.service("kafka")
    try:
        first = f"{names[0]}: first points written"
        wait_until(lambda: sink.total(names[0], "points-written-total") > 0, 60, first)
        time.sleep(5)  # the stream under way
        pid = stack.supervisor.pid("kafka")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        def broker_back() -> bool:
            if stack.supervisor.pid("kafka") in (None, pid):
                raise NotYet(f"kafka {stack.supervisor.state('kafka')}")
            try:
                return bool(kafka.probe())
            except ShopstreamError as exc:
                raise NotYet(str(exc)) from exc

        wait_until(broker_back, 180, "the broker restarted by the supervisor", every_s=0.5)
        back_at = time.monotonic()

        def all_running() -> bool:
            states = {name: sink.task_states(name) for name in names}
            if any(state != ["RUNNING"] * len(state) or not state for state in states.values()):
                raise NotYet(json.dumps(states))
            return True

        wait_until(all_running, 60, "every sink task RUNNING within 60 s of the broker's return", every_s=0.5)
        print(f"every sink task RUNNING {time.monotonic() - back_at:.1f} s after the broker was back")
        time.sleep(10)  # the stream goes on through the new task instances
    finally:
        stop.set()
        producer.join(180)
    assert not producer.is_alive()
    wanted = set(acked)
    assert len(wanted) >= 3000 * 15

    where = '"events_7d"."shop_events"'

    def all_landed() -> int:
        [counts] = sink.rows(f'SELECT count(distinct("event_id")) AS d FROM {where}')
        if counts["d"] < len(wanted):
            raise NotYet(f"{counts['d']} of {len(wanted)} events")
        return int(counts["d"])

    wait_until(all_landed, 180, "every acknowledged event in InfluxDB", every_s=1)
    stored = {row["event_id"] for row in sink.rows(f'SELECT "event_id" FROM {where}')}
    assert wanted <= stored  # none lost (events acknowledged during the kill may also have landed)
    for name in names:
        assert sink.task_states(name) == ["RUNNING"] * len(sink.task_states(name))


def test_a_wrong_password_fails_the_task_naming_the_user(sink: Sink) -> None:
    s = sink.settings
    mapping = SinkFile.of(CAMPAIGN)
    schema_id = register(s, s.topics.kpi_campaign, mapping.schema_file)
    record = kpi_record(
        mapping.schema_file, {"campaign_id": "cmp-001"}, now_ms() // 60_000 * 60_000, random.Random(4)
    )
    produce(s, s.topics.kpi_campaign, avro_records(mapping, schema_id, [record], "campaign_id"))
    wrong = "not-the-password-4711"
    name = sink.deploy(CAMPAIGN, running=False, **{"influxdb.password": wrong})

    def failed() -> dict[str, Any]:
        resp = sink.connect.request("GET", f"/connectors/{name}/status")
        tasks = resp.json().get("tasks") if resp.ok else None
        if not tasks or tasks[0]["state"] != "FAILED":
            raise NotYet(json.dumps(tasks))
        task: dict[str, Any] = tasks[0]
        return task

    task = wait_until(failed, 60, f"{name} task FAILED")
    [cause] = [line for line in task["trace"].splitlines() if line.startswith("Caused by:")]
    assert cause == (
        "Caused by: org.apache.kafka.connect.errors.ConnectException: InfluxDB at "
        f"{s.influxdb.url} refused the credentials of user '{s.influxdb.writer_user}' (HTTP 401: "
        "authorization failed); check influxdb.username and influxdb.password"
    )
    assert wrong not in task["trace"]
    # nothing was written
    assert sink.rows("SHOW MEASUREMENTS") == []


def test_a_config_with_three_mistakes_lists_all_three_and_deploys_nothing(sink: Sink, tmp_path: Path) -> None:
    spec = json.loads((connectors_dir() / CAMPAIGN).read_text())
    spec["name"] = f"{sink.prefix}-three-mistakes"
    spec["config"]["influxdb.url"] = "ftp://influxdb:8086"
    spec["config"]["influxdb.precision"] = "minutes"
    spec["config"]["batch.size"] = "0"
    (tmp_path / "a-broken.json").write_text(json.dumps(spec))
    good = json.loads((connectors_dir() / SEGMENT).read_text())
    good["name"] = f"{sink.prefix}-good-one"
    (tmp_path / "b-good.json").write_text(json.dumps(good))

    result = CliRunner().invoke(app, ["connectors", "deploy", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "invalid connector config, nothing deployed:" in output
    name = spec["name"]
    assert f"{name}: influxdb.url: must be an http:// or https:// URL, got 'ftp://influxdb:8086'" in output
    assert f"{name}: influxdb.precision: Invalid value minutes for configuration influxdb.precision" in output
    assert (
        f"{name}: batch.size: Invalid value 0 for configuration batch.size: Value must be at least 1"
        in output
    )
    assert output.count(f"{name}: ") == 3
    deployed = sink.connect.connectors()
    assert name not in deployed and good["name"] not in deployed


def test_100k_enriched_events_give_100k_points(sink: Sink) -> None:
    s = sink.settings
    mapping = SinkFile.of(EVENTS)
    schema_id = register(s, s.topics.enriched, mapping.schema_file)
    assert contract_for_subject(s, f"{s.topics.enriched}-value") is not None
    n = 100_000
    records = list(enriched_events(n, seed=6, start_ms=now_ms() - 3_600_000, span_ms=3_000_000))
    assert len({r["event_id"] for r in records}) == n
    produce(s, s.topics.enriched, avro_records(mapping, schema_id, records, "user_id"))
    name = sink.deploy(EVENTS)
    assert len(sink.status(name)["tasks"]) == s.topics.partitions
    sink.wait_metric(name, "records-written-total", n, timeout_s=150)

    where = '"events_7d"."shop_events"'
    [counts] = sink.rows(f'SELECT count("event_id") AS n, count(distinct("event_id")) AS d FROM {where}')
    assert (counts["n"], counts["d"]) == (n, n)
    [policy] = [
        r
        for r in sink.rows(f'SHOW RETENTION POLICIES ON "{s.influxdb.database}"')
        if r["name"] == "events_7d"
    ]
    assert policy["duration"] == "168h0m0s" and policy["default"] is False
    contract = shop_events()
    types = sink.field_types(where)
    assert {k for k, v in types.items() if v == "integer"} == set(contract.integer_fields)
    assert {k for k, v in types.items() if v == "string"} == set(contract.string_fields)
    tag_keys = {r["tagKey"] for r in sink.rows(f"SHOW TAG KEYS FROM {where}")}
    assert tag_keys == set(contract.tags)

    # the first 200 events, point by point: tags, fields and the disambiguated ns time
    first = records[:200]
    excluded = set(mapping.raw_config["fields.exclude"].split(","))
    assert excluded  # the shipped events config narrows the points
    low = first[0]["event_time"] * 1_000_000
    high = first[-1]["event_time"] * 1_000_000 + 999_999
    stored = {
        r["event_id"]: r
        for r in sink.rows(f"SELECT * FROM {where} WHERE time >= {low} AND time <= {high}", "ns")
    }
    assert len(stored) == len(first)
    for record in first:
        row = stored[record["event_id"]]
        assert row["time"] == disambiguated_ns(record["event_time"], record["event_id"])
        want = {k: v for k, v in record.items() if k != "event_time" and k not in excluded}
        assert {k: row.get(k) for k in want} == want  # nulls: tag or field not written, read back as null
        assert all(k not in row for k in excluded)  # fields.exclude: not written at all
