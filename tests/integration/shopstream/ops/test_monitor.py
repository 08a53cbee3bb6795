"""The monitor on the real stack: exact counts, rates and lag; telemetry points in the real InfluxDB;
the Spark job's lag from its real checkpoint; the plain-line view of `pipeline monitor`."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from producer.run import RunLimits, run
from producer.sender import EventSender
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.cli import app
from shopstream.clients.influx import InfluxClient
from shopstream.ops import demographics
from shopstream.ops.jobs import SparkJob
from shopstream.ops.monitor import Monitor, Snapshot
from shopstream.ops.telemetry import Telemetry
from shopstream.settings import Settings
from tests.integration.shopstream.ops.conftest import commit, free_port, produce

runner = CliRunner()

FIRST = {  # stage -> records per partition
    "events": [5, 3, 2],
    "enriched": [4, 0, 0],
    "events_dlq": [1, 1, 0],
    "kpi_campaign": [3, 2, 1],
    "kpi_segment": [0, 0, 7],
    "kpi_dlq": [1, 0, 0],
    "enriched_dlq": [0, 1, 0],
    "demographics": [2, 2, 2],
}
SECOND = {"events": [10, 10, 10], "events_dlq": [0, 0, 1], "kpi_campaign": [0, 0, 4]}


def _topic(settings: Settings, stage: str) -> str:
    return str(getattr(settings.topics, stage))


def _produce(settings: Settings, counts: dict[str, list[int]]) -> None:
    produce(settings, {_topic(settings, stage): per_partition for stage, per_partition in counts.items()})


def _records(snapshot: Snapshot) -> dict[str, int]:
    return {s.stage: s.records for s in snapshot.stages}


def test_counts_rates_and_group_lag_equal_what_was_produced(
    isolated_topics: Settings, group: str, tmp_path: Path
) -> None:
    settings = isolated_topics.replace(spark_ui_port=free_port())
    kpi_topic = settings.topics.kpi_campaign
    _produce(settings, FIRST)
    commit(settings, group, kpi_topic, {0: 2, 1: 2})  # partition 2: nothing committed
    monitor = Monitor(settings, tmp_path / "no-checkpoint", groups=[group], rate_window_s=0)

    first = monitor.sample()
    assert first.kafka_error is None
    assert _records(first) == {stage: sum(n) for stage, n in FIRST.items()}
    assert all(s.exists and s.rate_in == 0 for s in first.stages)
    lagging = first.consumer(f"group:{group}")
    assert (lagging.topic, lagging.consumed, lagging.lag) == (kpi_topic, 4, 1 + 0 + 1)
    kpi = first.stage("kpi_campaign")
    assert (kpi.consumer, kpi.consumed, kpi.lag) == (f"group:{group}", 4, 2)
    assert first.stage("events").consumer is None and first.stage("events").lag == 0
    assert first.spark is not None and not first.spark.running

    _produce(settings, SECOND)
    commit(settings, group, kpi_topic, {2: 5})
    second = monitor.sample()
    dt = second.at - first.at
    assert _records(second) == {
        stage: sum(n) + sum(SECOND.get(stage, [])) for stage, n in FIRST.items()
    }  # fmt: skip
    rates = {s.stage: s.rate_in for s in second.stages}
    assert rates == pytest.approx({
        "events": 30 / dt, "enriched": 0, "events_dlq": 1 / dt, "kpi_campaign": 4 / dt,
        "kpi_segment": 0, "kpi_dlq": 0, "enriched_dlq": 0, "demographics": 0,
    })  # fmt: skip
    caught_up = second.consumer(f"group:{group}")
    assert (caught_up.consumed, caught_up.lag) == (9, 1)  # partition 0: 3 records, committed at 2
    assert caught_up.rate == pytest.approx(5 / dt)
    dlq = second.stage("events_dlq")
    assert dlq.dlq and dlq.records == 3


def test_stage_samples_land_in_influxdb_as_pipeline_stage_points(
    isolated_topics: Settings, influx_db: str, tmp_path: Path
) -> None:
    settings = isolated_topics
    monitor = Monitor(settings, tmp_path, rate_window_s=0, probe_spark=False)
    telemetry = Telemetry(settings, influx_db)
    _produce(settings, FIRST)
    samples = [monitor.sample()]
    _produce(settings, SECOND)
    samples.append(monitor.sample())
    for sample in samples:
        telemetry.write(sample)
    assert telemetry.error is None and telemetry.points == 14  # seven stages (not demographics) x 2

    client = InfluxClient(settings.influxdb, influx_db)
    series = client.query('SELECT "records", "rate", "lag" FROM "pipeline_stage" GROUP BY "stage"')
    stored = {
        s.tags["stage"]: [(r["time"], r["records"], r["rate"], r["lag"]) for r in s.rows] for s in series
    }
    stages = ("events", "enriched", "events_dlq", "kpi_campaign", "kpi_segment", "kpi_dlq", "enriched_dlq")
    expected = {
        name: [
            (round(at.at * 1000), at.stage(name).records, pytest.approx(at.stage(name).rate_in), 0)
            for at in samples
        ]
        for name in stages
    }
    assert stored == expected
    assert stored["events"][1][1] == 40 and stored["events"][1][2] > 0
    types = {
        r["fieldKey"]: r["fieldType"]
        for s in client.query('SHOW FIELD KEYS FROM "pipeline_stage"')
        for r in s.rows
    }
    assert types == {"records": "integer", "rate": "float", "lag": "integer"}

    missing = Telemetry(settings, f"{influx_db}_missing")
    missing.write(samples[0])
    assert missing.points == 0 and missing.error is not None and "database not found" in missing.error


def _send_events(settings: Settings, count: int, seed: int) -> None:
    events = TrafficModel(TrafficConfig(seed=seed)).take(count)
    result = run(EventSender(settings), iter(events), RunLimits(count=count), report=lambda _l: None)
    assert result.counters["acked"] == count


def test_spark_lag_comes_from_the_job_checkpoint(
    isolated_topics: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = isolated_topics
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    assert runner.invoke(app, ["schemas", "evolve"]).exit_code == 0
    demographics.load(settings)
    _send_events(settings, 300, seed=31)
    port, checkpoints = free_port(), tmp_path / "checkpoints"
    monkeypatch.setenv("SHOPSTREAM_SPARK_UI_PORT", str(port))  # for `pipeline status` below
    # another HTTP service holds the configured UI port: Spark moves its UI to a next port
    taken = ThreadingHTTPServer(("127.0.0.1", port), BaseHTTPRequestHandler)
    threading.Thread(target=taken.serve_forever, daemon=True).start()
    job = SparkJob(
        settings,
        f"test-monitor-{port}",
        ["--trigger", "0.5"],
        queries=["enrich"],
        checkpoint_dir=checkpoints,
        env={"SHOPSTREAM_SPARK_UI_PORT": str(port), "SHOPSTREAM_SPARK_DEMOGRAPHICS_REFRESH_S": "5"},
        log=tmp_path / "job.log",
    )
    monitor = Monitor(settings.replace(spark_ui_port=port), checkpoints, rate_window_s=0)
    job.start()
    try:
        deadline = time.monotonic() + 180
        snapshot = monitor.sample()
        while time.monotonic() < deadline and not (
            snapshot.consumers and snapshot.consumer("spark:enrich").consumed == 300
        ):
            time.sleep(1)
            snapshot = monitor.sample()
        assert snapshot.spark is not None and snapshot.spark.running and snapshot.spark.name == "shopstream"
        assert int(snapshot.spark.ui_url.rsplit(":", 1)[1]) in range(port + 1, port + 17)
        assert snapshot.spark.detail == f"(port {port} was taken)"
        enrich = snapshot.consumer("spark:enrich")
        assert (enrich.topic, enrich.consumed, enrich.lag) == (settings.topics.events, 300, 0)
        assert enrich.committed_batch is not None and enrich.committed_at is not None
        events = snapshot.stage("events")
        assert (events.records, events.consumer, events.lag) == (300, "spark:enrich", 0)
        assert (snapshot.stage("enriched").records, snapshot.stage("events_dlq").records) == (300, 0)

        status = runner.invoke(app, ["pipeline", "status", "--json", "--interval", "0",
                                     "--checkpoint-dir", str(checkpoints)])  # fmt: skip
        checks = {(c["component"], c["name"]): c for c in json.loads(status.stdout)["checks"]}
        assert checks[("spark", "job")]["health"] == "ok"
        assert checks[("spark", "query enrich")]["health"] == "ok"
        assert checks[("consumer", "spark:enrich")]["data"]["lag"] == 0
        assert checks[("consumer", "spark:enrich")]["data"]["consumed"] == 300
    finally:
        job.remove()
        taken.shutdown()
        taken.server_close()

    _send_events(settings, 120, seed=32)  # the job is stopped: these wait in the topic
    after = monitor.sample()
    assert after.spark is not None and not after.spark.running
    enrich = after.consumer("spark:enrich")
    assert (enrich.consumed, enrich.lag) == (300, 120)
    assert (after.stage("events").records, after.stage("events").lag) == (420, 120)


def test_pipeline_monitor_prints_plain_lines_when_not_a_terminal(
    isolated_topics: Settings, influx_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSTREAM_INFLUXDB_DATABASE", influx_db)
    monkeypatch.setenv("SHOPSTREAM_SPARK_UI_PORT", str(free_port()))
    _produce(isolated_topics, FIRST)
    result = runner.invoke(app, ["pipeline", "monitor", "--interval", "1", "--duration", "1.5",
                                 "--checkpoint-dir", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "events 10 (+0/s)  enriched 4 (+0/s)  events DLQ 2 (+0/s) !DLQ  kpi.campaign 6 (+0/s)  "
        "kpi.segment 7 (+0/s)  kpi DLQ 1 (+0/s) !DLQ  enriched DLQ 1 (+0/s) !DLQ  demographics 6 (+0/s)"
    )
    assert lines[1].startswith("  spark NOT running")
    topics = f"{isolated_topics.topics.kpi_campaign}, {isolated_topics.topics.kpi_segment}"
    assert lines[2].startswith(f"  KPIs from Kafka topics {topics} (no InfluxDB sink deployed): ")
    refreshes = len(lines) // 3
    assert refreshes >= 1 and len(lines) == 3 * refreshes and lines[3:] == lines[: len(lines) - 3]
    points = InfluxClient(isolated_topics.influxdb, influx_db).query(
        'SELECT count("records") FROM "pipeline_stage"'
    )
    assert points[0].rows[0]["count"] == 7 * refreshes  # every refresh wrote its seven stages
