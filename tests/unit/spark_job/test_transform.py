"""Enrichment and KPI formulas on static DataFrames; the watermark on a real (file) stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from spark_job.enrich import enrich, with_age_band
from spark_job.kpi import campaign_kpis, segment_kpis

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
EVENT_SCHEMA = (
    "event_id string, event_time timestamp, user_id long, campaign_id string, tag string, "
    "total_amount_cents long, units int"
)
DEMO_SCHEMA = "id long, age int, gender string, state string, country string"


def _events(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    return spark.createDataFrame(rows, EVENT_SCHEMA)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (18, "18-24"),
        (24, "18-24"),
        (25, "25-34"),
        (44, "35-44"),
        (54, "45-54"),
        (64, "55-64"),
        (65, "65+"),
        (90, "65+"),
    ],
)
def test_age_bands(spark: SparkSession, age: int, band: str) -> None:
    df = with_age_band(spark.createDataFrame([(1, age, "F", "CA", "US")], DEMO_SCHEMA))
    assert df.first()["age_band"] == band  # type: ignore[index]


def test_join_enriches_known_users_and_keeps_unknown_ones(spark: SparkSession) -> None:
    events = _events(spark, [("e1", _at(1), 1, "c", "view", 0, 0), ("e2", _at(2), 999, "c", "view", 0, 0)])
    demographics = spark.createDataFrame([(1, 30, "F", "CA", "US"), (2, 70, "M", "NSW", "AU")], DEMO_SCHEMA)
    rows = {r["event_id"]: r.asDict() for r in enrich(events, demographics).collect()}
    assert len(rows) == 2
    assert {k: rows["e1"][k] for k in ("age", "age_band", "gender", "state", "country")} == {
        "age": 30,
        "age_band": "25-34",
        "gender": "F",
        "state": "CA",
        "country": "US",
    }
    assert [rows["e2"][k] for k in ("age", "age_band", "gender", "state", "country")] == [None] * 5


def test_campaign_kpi_formulas(spark: SparkSession) -> None:
    rows = [
        ("1", _at(1), 1, "a", "view", 0, 0),
        ("2", _at(2), 1, "a", "click", 0, 0),
        ("3", _at(3), 1, "a", "add_to_cart", 0, 0),
        ("4", _at(4), 1, "a", "purchase", 2500, 2),
        ("5", _at(5), 2, "a", "view", 0, 0),
        ("6", _at(6), 2, "a", "click", 0, 0),
        ("7", _at(7), 3, "a", "click", 0, 0),
        ("8", _at(8), 3, "a", "purchase", 1000, 1),
        ("9", _at(61), 4, "a", "view", 0, 0),  # next window
        ("10", _at(9), 5, "b", "view", 0, 0),  # other campaign: no clicks, no purchases
    ]
    kpis = {
        (r["campaign_id"], r["window_start"]): r.asDict()
        for r in campaign_kpis(_events(spark, rows), "1 minute").collect()
    }
    first = kpis[("a", T0.replace(tzinfo=None))]
    assert first == {
        "campaign_id": "a",
        "window_start": T0.replace(tzinfo=None),
        "window_end": _at(60).replace(tzinfo=None),
        "views": 2,
        "clicks": 3,
        "add_to_carts": 1,
        "purchases": 2,
        "revenue_cents": 3500,
        "units": 3,
        "conversion_rate": 2 / 3,
        "avg_order_value_cents": 1750.0,
        "active_users": 3,
        "last_event_time": _at(8).replace(tzinfo=None),  # the newest event of the window
    }
    assert kpis[("a", _at(60).replace(tzinfo=None))]["views"] == 1
    other = kpis[("b", T0.replace(tzinfo=None))]
    assert (other["conversion_rate"], other["avg_order_value_cents"], other["revenue_cents"]) == (0.0, 0.0, 0)


def test_segment_kpis_group_unknown_users_together(spark: SparkSession) -> None:
    events = _events(
        spark,
        [
            ("1", _at(1), 1, "a", "purchase", 500, 1),
            ("2", _at(2), 1, "a", "purchase", 700, 1),
            ("3", _at(3), 2, "a", "view", 0, 0),
            ("4", _at(4), 999, "a", "purchase", 100, 1),
        ],
    )
    demographics = spark.createDataFrame([(1, 30, "F", "CA", "US"), (2, 31, "F", "CA", "US")], DEMO_SCHEMA)
    kpis = {
        (r["gender"], r["age_band"], r["state"]): (r["revenue_cents"], r["purchases"], r["users"])
        for r in segment_kpis(enrich(events, demographics), "1 minute").collect()
    }
    assert kpis == {("F", "25-34", "CA"): (1200, 2, 2), ("unknown", "unknown", "unknown"): (100, 1, 1)}


def test_events_later_than_the_watermark_are_dropped(spark: SparkSession, tmp_path: Path) -> None:
    """A real stream (file source -> watermark -> window aggregation -> memory sink, update mode)."""
    source = tmp_path / "in"
    source.mkdir()
    stream = spark.readStream.schema(EVENT_SCHEMA).json(str(source)).withWatermark("event_time", "2 minutes")
    query = (
        campaign_kpis(stream, "1 minute")
        .writeStream.format("memory")
        .queryName("late_test")
        .outputMode("update")
        .option("checkpointLocation", str(tmp_path / "cp"))
        .start()
    )

    def batch(name: str, rows: list[tuple[str, float]]) -> None:
        lines = [
            json.dumps(
                {
                    "event_id": eid,
                    "event_time": _at(sec).isoformat(),
                    "user_id": 1,
                    "campaign_id": "a",
                    "tag": "view",
                    "total_amount_cents": 0,
                    "units": 0,
                }
            )
            for eid, sec in rows
        ]
        (source / f"{name}.json").write_text("\n".join(lines))
        query.processAllAvailable()

    try:
        batch("1", [("on-time", 30)])  # window 10:00
        batch("2", [("advance", 300)])  # 10:05 -> watermark 10:03
        batch("3", [("late", 40), ("fresh", 310)])  # 10:00:40 is behind the watermark: dropped
    finally:
        query.stop()
    latest: dict[datetime, int] = {}
    for row in spark.table("late_test").collect():
        latest[row["window_start"]] = max(latest.get(row["window_start"], 0), row["views"])
    assert latest[T0.replace(tzinfo=None)] == 1  # the late view never counted
    assert latest[_at(300).replace(tzinfo=None)] == 2
