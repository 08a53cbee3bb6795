"""Rendering the live view from static samples: stages, DLQ highlight, lag, connectors, KPIs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shopstream.ops.kpi_view import CampaignKpi, SegmentKpi, build_view
from shopstream.ops.live_view import Frame, money, plain_lines, render, sink_table, stage_table
from shopstream.ops.monitor import ConnectorState, ConsumerSample, SinkSample, SparkApp, StageSample
from shopstream.ops.monitor import Snapshot as Snap

T0 = 1_795_489_680_000  # 03:08 UTC
MIN = 60_000


def _stage(name: str, label: str, records: int, rate: float, **kw: object) -> StageSample:
    values: dict[str, object] = {
        "stage": name, "label": label, "topic": f"shop.{name}", "dlq": False, "telemetry": True,
        "exists": True, "records": records, "rate_in": rate, "consumer": None, "consumed": None,
        "rate_out": None, "lag": 0,
    }  # fmt: skip
    values |= kw
    return StageSample(**values)  # type: ignore[arg-type]


def snapshot() -> Snap:
    return Snap(
        at=T0 / 1000 + 150,
        stages=[
            _stage(
                "events",
                "events",
                12_345,
                2_000.4,
                consumer="spark:enrich",
                consumed=12_000,
                rate_out=1_990,
                lag=345,
            ),
            _stage("enriched", "enriched", 12_000, 1_990),
            _stage("events_dlq", "events DLQ", 3, 0.5, dlq=True),
            _stage("kpi_campaign", "kpi.campaign", 40, 2),
            _stage("kpi_segment", "kpi.segment", 0, 0, exists=False),
            _stage("kpi_dlq", "kpi DLQ", 0, 0, dlq=True),
            _stage("demographics", "demographics", 100_000, 0, telemetry=False),
        ],
        consumers=[
            ConsumerSample("spark:enrich", "events", "shop.events", 12_000, 345, 1_990, 41, T0 / 1000 + 148)
        ],
        connectors=[
            ConnectorState("shopstream-demographics-source", "source", "RUNNING", ("RUNNING",), None)
        ],
        spark=SparkApp("http://127.0.0.1:4040", True, "local-1795", "shopstream"),
        queries=[],
    )


def kpis() -> Frame:
    campaigns = [
        CampaignKpi("cmp-001", T0, 100, 20, 8, 4, 123_456, 5, 30, T0 + MIN),
        CampaignKpi("cmp-002", T0, 50, 10, 2, 1, 999, 1, 9, T0 + MIN),
        CampaignKpi("cmp-001", T0 + MIN, 10, 5, 1, 1, 5_000, 1, 3, T0 + 2 * MIN),
    ]
    segments = [SegmentKpi("F", "25-34", "CA", T0, 124_455, 5, 12, T0 + MIN)]
    view = build_view(campaigns, segments, "KPIs from Kafka topics a, b (InfluxDB sink not installed)", MIN)
    return Frame(
        snapshot(), view, telemetry="InfluxDB shopstream.pipeline_stage", elapsed_s=150, subtitle="p"
    )


def _text(frame: Frame) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(render(frame))
    return console.export_text()


def test_money_is_euro_cents() -> None:
    assert [money(c) for c in (0, 5, 123_456, 100_000_000, -250)] == [
        "€0.00", "€0.05", "€1,234.56", "€1,000,000.00", "-€2.50",
    ]  # fmt: skip


def test_frame_shows_stages_lag_spark_connectors_and_kpis() -> None:
    text = _text(kpis())
    lines = text.replace("│", " ").splitlines()
    events = next(line for line in lines if line.startswith("events "))
    assert events.split() == [
        "events",
        "shop.events",
        "12,345",
        "2,000",
        "12,000",
        "1,990",
        "345",
        "spark:enrich",
    ]
    assert any(line.split() == ["kpi.segment", "shop.kpi_segment", "missing"] for line in lines)
    assert "Spark job running: shopstream local-1795, UI http://127.0.0.1:4040" in text
    assert "#41, 2 s ago" in text
    assert "shopstream-demographics-source   source   RUNNING   RUNNING" in text
    assert "consumer lag (committed offsets)" in text
    assert "KPIs from Kafka topics a, b (InfluxDB sink not installed)" in text
    # revenue/min of the last closed window (03:08): 123,456 + 999 cents
    assert "revenue/min €1,244.55 (window 03:08)" in text
    assert "conversion 17.1% (purchases/clicks)" in text  # 6 purchases / 35 clicks
    top = next(line.split() for line in lines if "cmp-001" in line)
    assert top[top.index("cmp-001") :] == ["cmp-001", "€1,284.56", "5", "20.0%", "€256.91"]
    assert "03:09 (latest)" in text
    assert any(line.split()[-3:] == ["CA", "€1,244.55", "5"] for line in lines)
    assert "telemetry: each sample written to InfluxDB shopstream.pipeline_stage" in text


def test_dead_letters_are_highlighted_only_when_there_are_some() -> None:
    table = stage_table(snapshot())
    records = list(table.columns[2].cells)
    labels = list(table.columns[0].cells)
    dlq, empty_dlq = records[2], records[5]
    assert isinstance(dlq, Text) and dlq.plain == "3" and "red" in str(dlq.style)
    assert isinstance(empty_dlq, Text) and "red" not in str(empty_dlq.style)
    assert isinstance(labels[2], Text) and "red" in str(labels[2].style)


def test_errors_are_shown_not_raised() -> None:
    frame = Frame(
        snapshot(), None, kpi_error="KafkaException: down", telemetry="X", telemetry_error="write: 404"
    )
    text = _text(frame)
    assert "KPIs unavailable: KafkaException: down" in text
    assert "telemetry to X failed: write: 404" in text


def test_plain_lines_for_logs() -> None:
    lines = plain_lines(kpis())
    assert lines[0].startswith("events 12,345 (+2,000/s, out 1,990/s, lag 345)  enriched 12,000 (+1,990/s)")
    assert "events DLQ 3 (+0/s) !DLQ" in lines[0] and "kpi.segment missing" in lines[0]
    assert lines[1] == "  spark running  shopstream-demographics-source RUNNING"
    assert lines[2] == (
        "  KPIs from Kafka topics a, b (InfluxDB sink not installed): revenue/min €1,244.55  conversion 17.1%"
        "  top campaign cmp-001 €1,284.56  gender F €1,244.55  age 25-34 €1,244.55  state CA €1,244.55"
    )


def _with_sinks() -> Frame:
    from dataclasses import replace

    sinks = [
        SinkSample("shopstream-influxdb-events", "shop_events", True, 1_234_567, 19_980.4, 2_345, 0, 12.0, 3),
        SinkSample("shopstream-influxdb-kpi-campaign", "kpi_campaign", True, 480, 4.0, 0, 2, 3.5, 1),
        SinkSample("shopstream-influxdb-kpi-segment", "kpi_segment", False, None, 0.0, None, None, None, 1),
    ]
    frame = kpis()
    return replace(frame, snapshot=replace(frame.snapshot, sinks=sinks))


def test_the_sink_stage_shows_points_rate_lag_and_dead_letters() -> None:
    lines = _text(_with_sinks()).replace("│", " ").splitlines()
    events = next(line.split() for line in lines if line.startswith("shopstream-influxdb-events"))
    assert events == [
        "shopstream-influxdb-events",
        "shop_events",
        "1,234,567",
        "19,980",
        "2,345",
        "0",
        "12",
        "ms",
    ]
    segment = next(line.split() for line in lines if line.startswith("shopstream-influxdb-kpi-segment"))
    assert segment == ["shopstream-influxdb-kpi-segment", "kpi_segment", "-", "0", "-", "-", "-"]
    table = sink_table(_with_sinks().snapshot)
    assert isinstance(table, Table)
    dlq = list(table.columns[5].cells)
    assert isinstance(dlq[1], Text) and "red" in str(dlq[1].style)  # the campaign sink's 2 dead letters
    assert isinstance(dlq[0], Text) and "red" not in str(dlq[0].style)
    plain = plain_lines(_with_sinks())[1]
    assert plain == (
        "  influxdb shop_events 1,234,567 points (+19,980/s, lag 2,345)"
        "  kpi_campaign 480 points (+4/s, lag 0) !DLQ 2  kpi_segment - points (+0/s, lag -) NOT RUNNING"
    )


def test_the_kpi_querys_dropped_duplicates_and_late_events_are_shown() -> None:
    from dataclasses import replace

    from shopstream.jobstatus import QueryStatus, StateStore
    from shopstream.ops.health import status_text
    from shopstream.ops.live_view import spark_line

    kpis = QueryStatus(
        name="kpis", pid=7, state="running", started_at=0, updated_at=1, duplicates_dropped=1_234,
        late_rows_dropped=5, stores=[StateStore(operator="dedupeWithinWatermark", rows=98_765)],
    )  # fmt: skip
    snap = replace(snapshot(), statuses={"kpis": kpis})
    assert spark_line(snap).plain.endswith("; KPIs left out 1,234 duplicates, 5 late events")
    assert any("kpis left out 1,234 duplicates 5 late" in line for line in plain_lines(Frame(snap, None)))
    assert (
        status_text(kpis)
        == "running, 1,234 duplicates and 5 late events left out, 98,765 event ids remembered"
    )
