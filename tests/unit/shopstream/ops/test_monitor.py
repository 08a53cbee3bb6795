"""Monitor pieces without services: Spark checkpoint offsets, lag arithmetic, telemetry points."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shopstream.clients.influx import escape_tag, field_value, line
from shopstream.clients.kafka import PartitionRange
from shopstream.ops.monitor import (
    ConnectorState,
    Observation,
    Position,
    QueryCheckpoint,
    Snapshot,
    StageSample,
    compose,
    consumed_and_lag,
    read_checkpoint,
    read_checkpoints,
    spark_positions,
    stage_topics,
)
from shopstream.ops.telemetry import stage_points
from shopstream.settings import Settings

META = json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 1_795_489_879_193, "conf": {}})


def _offsets(query_dir: Path, batch: int, offsets: dict[str, dict[str, int]] | None) -> None:
    (query_dir / "offsets").mkdir(parents=True, exist_ok=True)
    sources = json.dumps(offsets) if offsets is not None else "-"
    (query_dir / "offsets" / str(batch)).write_text(f"v1\n{META}\n{sources}")
    (query_dir / "offsets" / f".{batch}.crc").write_bytes(b"\x95\x00binary")


def _commit(query_dir: Path, batch: int, mtime: float) -> None:
    (query_dir / "commits").mkdir(parents=True, exist_ok=True)
    path = query_dir / "commits" / str(batch)
    path.write_text('v1\n{"nextBatchWatermarkMs":0}')
    os.utime(path, (mtime, mtime))


def test_committed_position_is_the_offsets_of_the_last_committed_batch(tmp_path: Path) -> None:
    enrich = tmp_path / "enrich"
    _offsets(enrich, 0, {"shop.events": {"0": 10, "1": 20, "2": 30}})
    _commit(enrich, 0, 1_000.0)
    _offsets(enrich, 1, {"shop.events": {"0": 15, "1": 25, "2": 35}})
    _commit(enrich, 1, 2_000.0)
    _offsets(enrich, 2, {"shop.events": {"0": 99, "1": 99, "2": 99}})  # planned, not committed yet
    (enrich / "offsets" / ".2.tmp").write_text("partial")
    checkpoint = read_checkpoint(enrich)
    assert checkpoint == QueryCheckpoint(
        query="enrich",
        latest_batch=2,
        committed_batch=1,
        committed_at=2_000.0,
        offsets={"shop.events": {0: 15, 1: 25, 2: 35}},
        topics=("shop.events",),
    )
    assert spark_positions([checkpoint])[0].offsets == {0: 15, 1: 25, 2: 35}


def test_a_query_without_commit_has_consumed_nothing_and_other_folders_are_ignored(tmp_path: Path) -> None:
    _offsets(tmp_path / "kpi_campaign", 0, {"shop.events.enriched": {"0": 5}})
    (tmp_path / "not-a-query").mkdir()
    (tmp_path / "a-file").write_text("x")
    [checkpoint] = read_checkpoints(tmp_path)
    assert (checkpoint.query, checkpoint.committed_batch, checkpoint.offsets) == ("kpi_campaign", None, {})
    assert checkpoint.topics == ("shop.events.enriched",)
    assert read_checkpoints(tmp_path / "missing") == []


def test_consumed_and_lag_per_partition() -> None:
    ranges = {0: (0, 100), 1: (50, 80), 2: (0, 0)}
    assert consumed_and_lag({0: 60, 1: 70, 2: 0}, ranges) == (60 + 20, 40 + 10)
    assert consumed_and_lag({}, ranges) == (0, 130)  # nothing committed: all behind
    # a position below the start (retention) counts from the start; beyond the end is capped
    assert consumed_and_lag({0: 500, 1: 10}, ranges) == (100, 30)


def _stage(
    name: str, records: int, rate: float, lag: int, exists: bool = True, telemetry: bool = True
) -> StageSample:
    return StageSample(
        name, name, f"t.{name}", False, telemetry, exists, records, rate, None, None, None, lag
    )


def test_stage_points_are_line_protocol_with_integer_records_and_lag() -> None:
    snapshot = Snapshot(
        at=1_795_489_879.1234,
        stages=[
            _stage("events", 1200, 400.5, 12),
            _stage("kpi_dlq", 0, 0.0, 0),
            _stage("enriched", 7, 1.0, 0, exists=False),
            _stage("demographics", 100_000, 0.0, 0, telemetry=False),
        ],
        consumers=[],
        connectors=[],
        spark=None,
        queries=[],
    )
    assert stage_points(snapshot) == [
        "pipeline_stage,stage=events records=1200i,rate=400.5,lag=12i 1795489879123",
        "pipeline_stage,stage=kpi_dlq records=0i,rate=0.0,lag=0i 1795489879123",
    ]


def test_line_protocol_escaping_and_types() -> None:
    assert escape_tag("a b,c=d") == r"a\ b\,c\=d"
    assert [field_value(v) for v in (3, 2.5, True, 'say "hi"')] == ["3i", "2.5", "true", r'"say \"hi\""']
    assert line("m", {"z": "1", "a": "x y"}, {"v": 1}, 5) == r"m,a=x\ y,z=1 v=1i 5"
    with pytest.raises(ValueError, match="cannot store"):
        field_value(float("nan"))


def _observation(at: float, events_end: int, enrich_at: int, points: float) -> Observation:
    """A pipeline whose events topic ends at ``events_end`` (one partition), read by the enrichment
    up to ``enrich_at`` and by a sink connector of the events' points up to ``events_end - 100``."""
    topics = stage_topics(Settings())
    ranges: dict[str, dict[int, PartitionRange]] = {t: {0: (0, 0)} for t in topics.values()}
    ranges[topics["events"]] = {0: (0, events_end)}
    ranges[topics["enriched"]] = {0: (0, enrich_at)}
    sink = ConnectorState(
        "events-sink", "sink", "RUNNING", ("RUNNING", "RUNNING"), "connect-events-sink",
        measurement="shop_events", topics=(topics["enriched"],),
    )  # fmt: skip
    return Observation(
        at=at,
        topics=topics,
        connectors=[sink],
        connect_error=None,
        queries=[],
        ranges=ranges,
        positions=[
            Position("spark:enrich", topics["events"], {0: enrich_at}),
            Position("connect:events-sink", topics["enriched"], {0: enrich_at - 100}),
            Position("group:elsewhere", "not.ours", {0: 5}),
        ],
        kafka_error=None,
        spark=None,
        sink_tasks={"events-sink": {0: {"points-written-total": points, "records-dlq-total": 2.0,
                                        "write-latency-p95": 40.0},
                                    1: {"points-written-total": points, "write-latency-p95": 55.0}}},
        metrics_error=None,
        statuses={},
    )  # fmt: skip


def test_compose_turns_an_observation_into_stages_consumers_and_sinks_with_rates() -> None:
    first, counts = compose(_observation(100.0, 10_000, 9_000, 4_000.0), None)
    assert first.stage("events").rate_in == 0.0  # no reference yet
    second, _ = compose(_observation(105.0, 20_000, 18_500, 9_000.0), counts)
    events = second.stage("events")
    assert (events.records, events.rate_in, events.consumer, events.lag) == (
        20_000,
        2_000.0,
        "spark:enrich",
        1_500,
    )
    assert events.rate_out == 1_900.0  # the enrichment read 9,500 more in 5 s
    assert second.consumer("connect:events-sink").lag == 100
    assert [c.consumer for c in second.consumers] == ["spark:enrich", "connect:events-sink"]  # not ours: out
    [sink] = second.sinks
    assert (sink.points, sink.rate, sink.lag, sink.dead_letters, sink.write_p95_ms, sink.tasks) == (
        18_000,
        2_000.0,
        100,
        2,
        55.0,
        2,
    )
    assert not second.stage("kpi_dlq").records and second.stage("kpi_dlq").exists
