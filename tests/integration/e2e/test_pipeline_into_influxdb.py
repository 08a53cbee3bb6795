"""The whole pipeline into InfluxDB, exactly: every KPI of every window as the test computes it from
the distinct events it produced (10 % of them were sent twice), every valid event as exactly one
point, every corrupt record in the DLQ."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from shopstream.clients.connect import ConnectClient
from shopstream.contracts import EVENTS_MEASUREMENT, PIPELINE_STAGE, age_bands
from shopstream.jobstatus import KPIS, read_status
from tests.integration.conftest import ReadTopic
from tests.integration.e2e.conftest import N, PipelineRun
from tests.integration.e2e.influx_reads import campaign_points, event_points, segment_points

NS_PER_MS = 1_000_000


def test_every_campaign_kpi_of_every_window_is_exact(pipeline_run: PipelineRun) -> None:
    expected = pipeline_run.campaign_kpis
    assert len({window for _, window in expected}) >= 3  # several windows, every campaign
    assert campaign_points(pipeline_run) == expected


def test_every_copy_was_dropped_by_the_kpi_query_as_a_duplicate(pipeline_run: PipelineRun) -> None:
    kpis = read_status(pipeline_run.checkpoints, KPIS)
    assert kpis is not None and kpis.state == "running"
    assert (kpis.duplicates_dropped, kpis.late_rows_dropped) == (pipeline_run.copies, 0)


def test_every_segment_kpi_of_every_window_is_exact(pipeline_run: PipelineRun) -> None:
    expected = pipeline_run.segment_kpis
    assert any(key[:3] == ("unknown",) * 3 for key in expected)  # users without demographics count too
    assert segment_points(pipeline_run) == expected


def test_every_valid_event_is_exactly_one_point(pipeline_run: PipelineRun) -> None:
    """N - corrupt points: none lost, none overwritten by another event, none counted twice (the
    enrichment's replays after its restart on the unknown schema id repeat records in Kafka; the sink
    writes a repeat onto the same point)."""
    points = event_points(pipeline_run)
    events = pipeline_run.events
    assert len(points) == len(events) == N - len(pipeline_run.corrupt)
    by_id = {p["event_id"]: p for p in points}
    assert set(by_id) == set(events)
    for event_id, point in by_id.items():
        event = events[event_id]
        assert point["time"] // NS_PER_MS == event["event_time"]  # event time, sub-ms offset per event
        fields: dict[str, Any] = {
            k: point[k] for k in ("user_id", "campaign_id", "tag", "total_amount_cents", "units", "sku")
        }
        assert fields == {k: event[k] for k in fields}, event_id
    unknown = [p for p in points if p["user_id"] > 100_000]
    assert unknown and all(p["gender"] is None and p["age_band"] is None for p in unknown)
    for point in (p for p in points if p["user_id"] <= 100_000):
        _, age, gender, state, country = pipeline_run.people[point["user_id"]]
        assert (point["age_band"], point["gender"], point["state"], point["country"]) == (
            age_bands().of(age),
            gender,
            state,
            country,
        )


def _header(message: Message, name: str) -> str:
    value = dict(message.headers() or [])[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def test_the_dead_letter_queues_hold_exactly_the_corrupt_records(
    pipeline_run: PipelineRun, read_topic: ReadTopic
) -> None:
    s = pipeline_run.settings
    dead = read_topic(s.topics.events_dlq, expected=len(pipeline_run.corrupt), timeout_s=60)
    # one per source record (a replayed real-time batch may repeat one)
    distinct = {(_header(m, "dlq.source.partition"), _header(m, "dlq.source.offset")): m for m in dead}
    assert sorted(bytes(m.value() or b"") for m in distinct.values()) == sorted(pipeline_run.corrupt)
    assert all(_header(m, "dlq.reason") for m in distinct.values())
    for sink_dlq in (s.topics.kpi_dlq, s.topics.enriched_dlq):
        assert read_topic(sink_dlq, quiet_s=2, timeout_s=10) == []


def test_connectors_and_telemetry_ran_through_the_pipeline(pipeline_run: PipelineRun) -> None:
    connect = ConnectClient(pipeline_run.settings.connect)
    for name in pipeline_run.connectors:
        status = connect.status(name)
        assert [status["connector"]["state"], *(t["state"] for t in status["tasks"])] == ["RUNNING"] * (
            1 + len(status["tasks"])
        )
    (series,) = pipeline_run.influx.query(
        f'SELECT last("records") FROM "{PIPELINE_STAGE.name}" WHERE "stage" = \'events\''
    )
    assert series["values"][0][1] == N + pipeline_run.copies  # every record of the events topic
    assert EVENTS_MEASUREMENT == "shop_events"


def test_the_monitor_shows_the_sink_stage_and_reads_kpis_from_influxdb(pipeline_run: PipelineRun) -> None:
    from shopstream.ops.kpi_view import KpiSource
    from shopstream.ops.monitor import Monitor

    snapshot = Monitor(pipeline_run.settings, probe_spark=False).sample()
    sinks = {k.measurement: k for k in snapshot.sinks}
    assert set(sinks) == {"shop_events", "kpi_campaign", "kpi_segment"}
    assert all(k.running and k.lag == 0 for k in sinks.values())
    events = sinks["shop_events"]
    # the sink's own count: every valid event at least once (the enrichment's replays are rewritten)
    assert events.points is not None and events.points >= len(pipeline_run.events)
    assert events.dead_letters == 0 and events.tasks == 3
    assert snapshot.kpi_sinks_running
    source = KpiSource(pipeline_run.settings)
    try:
        view = source.view(snapshot.kpi_sinks_running, snapshot.sink_installed)
    finally:
        source.close()
    assert view.source == f"KPIs from InfluxDB (database {pipeline_run.settings.influxdb.database})"
    revenue = sum(k["revenue_cents"] for k in pipeline_run.campaign_kpis.values())
    assert sum(w.revenue_cents for w in view.windows) == revenue
