"""One run of the whole pipeline, shared by the end-to-end tests: producer -> Kafka -> Spark (two
applications) -> Kafka -> Connect's InfluxDB sinks -> InfluxDB, on topics, subjects, connectors
and an InfluxDB database of its own, all removed afterwards.

The pipeline is a ``shopstream.ops.trial.Trial`` (what `shopstream run` runs, on resources of its
own). A fixed-seed set of N events: v1 then v2 writer schemas (time-ordered: the v1 events are the first
minute of event time), user ids up to 110,000 (ids above 100,000 have no demographics), and a few
corrupt records in the middle. The event times lie in the past few minutes, across several KPI
windows. The Spark job, the sink connectors and the telemetry sampler run while the events are
produced, as `shopstream run` runs them.

At-least-once delivery, as users' sources have it: 10 % of the events are sent twice, byte for byte
(an idempotent producer does not help: they are new sends). Most copies follow right after the
events; the rest come once the pipeline has settled, a minute or more later. All are events of the
last 110 s of event time, so within the KPI watermark (2 minutes) whenever they arrive: the KPI query
must drop every one of them as a duplicate.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from producer.run import RunLimits, run
from producer.sender import EventSender
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import client_config
from shopstream.jobstatus import KPIS, read_status
from shopstream.ops import demographics
from shopstream.ops.trial import Trial
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests import oracle
from tests.integration.grafana.influx import InfluxDB

N = 20_000  # records produced in all, the corrupt ones included (not the copies)
V1_EVENTS = 4_000
COPIES_SOON, COPIES_LATER = 1_400, 600  # 10 % of the events sent again
WITHIN_WATERMARK_MS = 110_000  # copies are of events this close to the newest event time
SPAN_S = 180  # event time covered by the N events: three to four one-minute windows
UI_OFFSET = 41  # the run's Spark UIs: the settings' UI port + 41 (4081 with the default 4040)
MIN_TELEMETRY_S = 65


def corrupt_records(v2_id: int) -> list[bytes]:
    """Records the enrichment must dead-letter, each with its reason."""
    return [
        b"\x01not-confluent-framed",  # bad magic byte
        b"xy",  # too short to be framed
        b"\x00\x00\x00\x7f\xff" + b"\x02abc",  # an id no version of the subject has
        b"\x00" + v2_id.to_bytes(4, "big") + b"\x48\x01\x02",  # truncated body
        b"\x00" + v2_id.to_bytes(4, "big") + b"\xff" * 12,  # undecodable body
        b"\x00" + v2_id.to_bytes(4, "big"),  # framing without a body
    ]


@dataclass(frozen=True)
class PipelineRun:
    settings: Settings
    influx: InfluxDB
    events: dict[str, dict[str, Any]]  # event id -> the event as produced (once, however often sent)
    copies: int  # events sent a second time
    corrupt: list[bytes]
    people: dict[int, oracle.Person]
    connectors: list[str]
    checkpoints: Path
    started_ms: int
    finished_ms: int

    @property
    def campaign_kpis(self) -> dict[tuple[str, int], dict[str, Any]]:
        return oracle.campaign_kpis(self.events.values())

    @property
    def segment_kpis(self) -> dict[tuple[str, str, str, int], dict[str, Any]]:
        return oracle.segment_kpis(self.events.values(), self.people)


def _traffic(seed: int, version: int, count: int, start_ms: int, span_s: float) -> list[dict[str, Any]]:
    config = TrafficConfig(
        seed=seed, schema_version=version, users=110_000, start_ms=start_ms, events_per_second=count / span_s
    )
    return TrafficModel(config).take(count)


def _send(settings: Settings, events: list[dict[str, Any]], version: int) -> None:
    sender = EventSender(settings, schema_version=version)
    result = run(sender, iter(events), RunLimits(count=len(events)), report=lambda _line: None)
    assert result.counters["acked"] == len(events)


def _produce(s: Settings, t0: int) -> tuple[dict[str, dict[str, Any]], list[bytes], list[dict[str, Any]]]:
    """N records from event time ``t0`` on: the v1 events, the corrupt records, the v2 events, and
    copies of some of them; returns the events, the corrupt records, the copies still to send."""
    v1_span = SPAN_S * V1_EVENTS / N
    corrupt = corrupt_records(EventSender(s, schema_version=2).schema_id)
    v1 = _traffic(31, 1, V1_EVENTS, t0, v1_span)
    v2 = _traffic(32, 2, N - V1_EVENTS - len(corrupt), t0 + int(v1_span * 1000), SPAN_S - v1_span)
    _send(s, v1, 1)
    producer = Producer(client_config(s.kafka, "admin"))
    for value in corrupt:
        producer.produce(s.topics.events, value=value, key=b"bad")
    assert producer.flush(10) == 0
    _send(s, v2, 2)
    newest = max(e["event_time"] for e in v2)
    recent = [e for e in v2 if e["event_time"] >= newest - WITHIN_WATERMARK_MS]
    copies = random.Random(33).sample(recent, COPIES_SOON + COPIES_LATER)
    _send(s, copies[:COPIES_SOON], 2)  # right after their originals
    events = {e["event_id"]: e for e in v1 + v2}
    assert len(events) + len(corrupt) == N  # distinct event ids
    return events, corrupt, copies[COPIES_SOON:]


def _settled(run_: PipelineRun, expected_points: int, copies: int) -> bool:
    """Every event point and the final emission of every KPI window are in InfluxDB, and the KPI
    query has seen the copies sent so far."""
    from tests.integration.e2e.influx_reads import campaign_points, event_count, segment_points

    kpis = read_status(run_.checkpoints, KPIS)
    return (
        kpis is not None
        and kpis.duplicates_dropped + kpis.late_rows_dropped >= copies
        and event_count(run_) == expected_points
        and campaign_points(run_) == run_.campaign_kpis
        and segment_points(run_) == run_.segment_kpis
    )


def _wait_settled(run_: PipelineRun, expected_points: int, copies: int) -> None:
    deadline = time.monotonic() + 300
    while not _settled(run_, expected_points, copies) and time.monotonic() < deadline:
        time.sleep(3)


@pytest.fixture(scope="package")  # torn down after the e2e tests: not running under later ones
def pipeline_run(stack: Stack, settings: Settings) -> Iterator[PipelineRun]:
    trial = Trial(settings, "test")
    s = trial.settings
    influx = InfluxDB(s, s.influxdb.database)
    try:
        telemetry_from = time.monotonic()
        trial.setup(telemetry_s=2, ui_port=settings.spark.ui_port + UI_OFFSET)
        started_ms = int(time.time() * 1000)
        events, corrupt, later = _produce(s, started_ms - (SPAN_S + 30) * 1000)
        with demographics.connect(s) as conn, conn.cursor() as cur:
            cur.execute("SELECT id, age, gender, state, country FROM demographics")
            people = {int(row[0]): tuple(row) for row in cur.fetchall()}
        copies = COPIES_SOON + COPIES_LATER
        run_ = PipelineRun(
            s, influx, events, copies, corrupt, people, trial.connectors, trial.checkpoints, started_ms, 0
        )
        _wait_settled(run_, len(events), COPIES_SOON)
        _send(s, later, 2)  # the rest of the copies, a minute or more after their originals
        _wait_settled(run_, len(events), copies)
        # telemetry across at least one minute boundary, so that per-minute differences exist
        time.sleep(max(0.0, telemetry_from + MIN_TELEMETRY_S - time.monotonic()))
        yield PipelineRun(
            s,
            influx,
            events,
            copies,
            corrupt,
            people,
            trial.connectors,
            trial.checkpoints,
            started_ms,
            int(time.time() * 1000),
        )
    finally:
        trial.teardown()
