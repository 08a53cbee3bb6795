"""The points the dashboard tests write, and what every dashboard query must answer for them.

The InfluxDB sink connector is unobtainable on this machine, so the tests write ``kpi_campaign`` and
``kpi_segment`` points themselves, in the sink's documented mapping (``grafana/README.md``: one point
per key and window, time = window start in ms, later emissions of a window overwriting the point);
``pipeline_stage`` points are written as the pipeline monitor's contract says. The expectations are
computed here in plain Python from the same points, one ``Spec`` per panel query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from tests.integration.grafana.influx import Point, Result, Row, SeriesKey, TimeRange

T0 = 1_714_564_800_000  # 2024-05-01T12:00:00Z: a fixed past, aligned to 1m and 5m buckets
MINUTE = 60_000
# The range the queries run over: a little before the first window, up to the end of window 4.
RANGE = TimeRange(T0 - 30_000, T0 + 5 * MINUTE - 1)
INTERVALS = {"1m": MINUTE, "5m": 5 * MINUTE}
SAMPLE_MS = 8_000  # pipeline monitor sampling interval: rates = increments / 8, exact in binary


def campaign(cid: str, window: int, counts: tuple[int, int, int, int, int, int, int]) -> Point:
    views, clicks, carts, purchases, revenue, units, users = counts
    return Point(
        "kpi_campaign",
        {"campaign_id": cid},
        {
            "views": views,
            "clicks": clicks,
            "add_to_carts": carts,
            "purchases": purchases,
            "revenue_cents": revenue,
            "units": units,
            "active_users": users,
            "conversion_rate": purchases / clicks if clicks else 0.0,
            "avg_order_value_cents": revenue / purchases if purchases else 0.0,
        },
        T0 + window * MINUTE,
    )


def segment(
    gender: str, band: str, state: str, window: int, revenue: int, purchases: int, users: int
) -> Point:
    return Point(
        "kpi_segment",
        {"gender": gender, "age_band": band, "state": state},
        {"revenue_cents": revenue, "purchases": purchases, "users": users},
        T0 + window * MINUTE,
    )


def _pipeline() -> list[Point]:
    """Samples every 8 s of each stage: cumulative records, rate over the last interval, lag."""
    points = []
    for index, stage in enumerate(
        ("events", "enriched", "events_dlq", "kpi_campaign", "kpi_segment", "kpi_dlq")
    ):
        records = 10_000 * index
        for k in range(-3, 37):  # T0 - 24 s .. T0 + 288 s: two 5-minute buckets
            if stage == "kpi_dlq":
                increment = 0
            elif stage == "events_dlq":
                increment = 1 if k % 9 == 4 else 0
            else:
                increment = 800 + (k * 37 + index * 11) % 97
            records += increment
            lag = 0 if stage.endswith("dlq") else (k * 13 + index * 7) % 50
            fields = {"records": records, "rate": increment / 8, "lag": lag}
            points.append(Point("pipeline_stage", {"stage": stage}, fields, T0 + k * SAMPLE_MS))
    points.append(
        Point(
            "pipeline_stage", {"stage": "events"}, {"records": 1, "rate": 1.0, "lag": 9_999}, T0 - 3_600_000
        )
    )
    return points


# Written in this order, one request per batch: the second batch re-emits two windows.
WRITES: list[list[Point]] = [
    [
        campaign("cmp-000", 0, (1000, 120, 40, 12, 54_321, 15, 310)),
        campaign("cmp-000", 1, (400, 50, 10, 3, 9_999, 3, 120)),  # early emission of window 1
        campaign("cmp-000", 2, (900, 100, 30, 10, 45_600, 11, 280)),
        campaign("cmp-000", 3, (1200, 150, 50, 16, 70_007, 20, 350)),
        campaign("cmp-000", -60, (999, 99, 9, 9, 99_999, 9, 99)),  # an hour before the range
        campaign("cmp-001", 0, (500, 40, 12, 4, 15_999, 5, 150)),
        campaign("cmp-001", 2, (650, 52, 15, 5, 21_050, 6, 170)),
        campaign("cmp-001", 3, (30, 0, 0, 0, 0, 0, 25)),  # no clicks: conversion and AOV 0
        campaign("cmp-002", 1, (800, 90, 33, 9, 38_700, 12, 240)),
        campaign("cmp-002", 4, (700, 60, 20, 7, 30_100, 9, 200)),
        campaign("cmp-003", 10, (100, 10, 5, 2, 5_000, 2, 40)),  # after the range
        segment("F", "25-34", "CA", 0, 20_000, 5, 40),
        segment("F", "25-34", "CA", 1, 25_500, 6, 44),
        segment("F", "25-34", "CA", -60, 77_777, 7, 7),  # an hour before the range
        segment("M", "35-44", "NY", 0, 15_050, 3, 30),
        segment("M", "35-44", "NY", 2, 1_000, 1, 5),  # early emission of window 2
        segment("F", "18-24", "NY", 1, 9_999, 2, 12),
        segment("X", "65+", "WA", 3, 4_200, 1, 3),
        segment("unknown", "unknown", "unknown", 2, 0, 0, 7),
        segment("unknown", "unknown", "unknown", 4, 3_000, 1, 2),
        segment("M", "25-34", "CA", 4, 12_345, 3, 20),
        *_pipeline(),
    ],
    [
        campaign("cmp-000", 1, (1100, 130, 45, 13, 61_234, 17, 330)),  # final emission of window 1
        segment("M", "35-44", "NY", 2, 17_777, 4, 33),  # final emission of window 2
    ],
]
CAMPAIGNS = ("cmp-000", "cmp-001", "cmp-002", "cmp-003")


def stored() -> list[Point]:
    """What InfluxDB holds after the writes: the last write of each (measurement, tags, time)."""
    latest = {point.identity: point for batch in WRITES for point in batch}
    return list(latest.values())


# --- expectations ------------------------------------------------------------------------------
Agg = Callable[[Sequence[Point]], int | float]


def total(field: str) -> Agg:
    return lambda points: sum(int(p.fields[field]) for p in points)


def divide(numerator: Agg, denominator: Agg) -> Agg:
    """InfluxQL's ``a / b``: a float, and 0 when b is 0 (InfluxDB 1.x)."""
    return lambda points: numerator(points) / d if (d := denominator(points)) else 0.0


def cents_to_units(cents: Agg) -> Agg:
    return lambda points: cents(points) / 100


def mean(field: str) -> Agg:
    return lambda points: sum(float(p.fields[field]) for p in points) / len(points)


def maximum(field: str) -> Agg:
    return lambda points: max(p.fields[field] for p in points)


def last(field: str) -> Agg:
    return lambda points: max(points, key=lambda p: p.time_ms).fields[field]


REVENUE = cents_to_units(total("revenue_cents"))
CONVERSION = divide(total("purchases"), total("clicks"))
AOV = cents_to_units(divide(total("revenue_cents"), total("purchases")))
FUNNEL: tuple[tuple[str, Agg], ...] = tuple(
    (f, total(f)) for f in ("views", "clicks", "add_to_carts", "purchases")
)
STEPS: tuple[tuple[str, Agg], ...] = (
    ("view_to_click", divide(total("clicks"), total("views"))),
    ("click_to_cart", divide(total("add_to_carts"), total("clicks"))),
    ("cart_to_purchase", divide(total("purchases"), total("add_to_carts"))),
    ("view_to_purchase", divide(total("purchases"), total("views"))),
)
SALES: tuple[tuple[str, Agg], ...] = (("revenue", REVENUE), ("purchases", total("purchases")), ("aov", AOV))
Filter = Callable[[Point, frozenset[str] | None], bool]


def everything(point: Point, campaigns: frozenset[str] | None) -> bool:
    return True


def selected_campaigns(point: Point, campaigns: frozenset[str] | None) -> bool:
    return campaigns is None or point.tags["campaign_id"] in campaigns


def dead_letters(point: Point, campaigns: frozenset[str] | None) -> bool:
    return point.tags["stage"] in ("events_dlq", "kpi_dlq")


@dataclass(frozen=True)
class Spec:
    """What one panel query computes, in Python."""

    measurement: str
    columns: tuple[tuple[str, Agg], ...]
    group_by: tuple[str, ...] = ()
    per_interval: bool = False
    where: Filter = everything
    difference: bool = False  # non_negative_difference() of consecutive per-interval values

    def expected(self, interval_ms: int, campaigns: frozenset[str] | None) -> Result:
        groups: dict[SeriesKey, list[Point]] = defaultdict(list)
        for p in stored():
            if p.measurement == self.measurement and p.time_ms in RANGE and self.where(p, campaigns):
                groups[tuple((tag, p.tags[tag]) for tag in sorted(self.group_by))].append(p)
        names = tuple(name for name, _ in self.columns)
        result: Result = {}
        for key, points in groups.items():
            if not self.per_interval:
                result[key] = (names, [tuple(agg(points) for _, agg in self.columns)])
                continue
            buckets: dict[int, list[Point]] = defaultdict(list)
            for p in points:
                buckets[p.time_ms // interval_ms * interval_ms].append(p)
            rows: list[Row] = [
                (start, *(agg(bucket) for _, agg in self.columns))
                for start, bucket in sorted(buckets.items())
            ]
            if self.difference:
                rows = [(row[0], row[1] - prev[1]) for prev, row in pairwise(rows)]
                rows = [row for row in rows if row[1] >= 0]
            if rows:  # InfluxDB answers no series for a group without rows
                result[key] = (("time", *names), rows)
        return result


def _campaign(columns: tuple[tuple[str, Agg], ...], *group: str, per_interval: bool = False) -> Spec:
    return Spec("kpi_campaign", columns, group, per_interval, selected_campaigns)


def _segment(columns: tuple[tuple[str, Agg], ...], tag: str, per_interval: bool = False) -> Spec:
    return Spec("kpi_segment", columns, (tag,), per_interval)


# (dashboard file, panel title) -> what its (single) query answers
INFLUX_PANELS: dict[tuple[str, str], Spec] = {
    ("campaigns.json", "Revenue"): _campaign((("revenue", REVENUE),)),
    ("campaigns.json", "Purchases"): _campaign((("purchases", total("purchases")),)),
    ("campaigns.json", "Conversion"): _campaign((("conversion", CONVERSION),)),
    ("campaigns.json", "Average order value"): _campaign((("aov", AOV),)),
    ("campaigns.json", "Revenue per campaign"): _campaign(
        (("revenue", REVENUE),), "campaign_id", per_interval=True
    ),
    ("campaigns.json", "Conversion rate per campaign"): _campaign(
        (("conversion", CONVERSION),), "campaign_id", per_interval=True
    ),
    ("campaigns.json", "Average order value per campaign"): _campaign(
        (("aov", AOV),), "campaign_id", per_interval=True
    ),
    ("campaigns.json", "Active users per campaign"): _campaign(
        (("active_users", maximum("active_users")),), "campaign_id", per_interval=True
    ),
    ("campaigns.json", "Campaign totals"): _campaign(
        (*FUNNEL, ("units", total("units")), ("revenue", REVENUE), ("conversion", CONVERSION), ("aov", AOV)),
        "campaign_id",
    ),
    ("funnel.json", "Funnel"): _campaign(FUNNEL),
    ("funnel.json", "Step conversion"): _campaign(STEPS),
    ("funnel.json", "Funnel over time"): _campaign(FUNNEL, per_interval=True),
    ("funnel.json", "Step conversion over time"): _campaign(STEPS, per_interval=True),
    ("funnel.json", "Funnel per campaign"): _campaign((*FUNNEL, *STEPS), "campaign_id"),
    ("demographics.json", "Revenue by gender"): _segment((("revenue", REVENUE),), "gender"),
    ("demographics.json", "Revenue by age band"): _segment((("revenue", REVENUE),), "age_band"),
    ("demographics.json", "Purchases by age band"): _segment(
        (("purchases", total("purchases")),), "age_band"
    ),
    ("demographics.json", "Revenue by gender over time"): _segment((("revenue", REVENUE),), "gender", True),
    ("demographics.json", "Purchases by age band over time"): _segment(
        (("purchases", total("purchases")),), "age_band", True
    ),
    ("demographics.json", "Sales by gender"): _segment(SALES, "gender"),
    ("demographics.json", "Sales by age band"): _segment(SALES, "age_band"),
    ("demographics.json", "Sales by state"): _segment(SALES, "state"),
    ("pipeline.json", "Throughput per stage"): Spec(
        "pipeline_stage", (("rate", mean("rate")),), ("stage",), True
    ),
    ("pipeline.json", "Records per stage"): Spec(
        "pipeline_stage", (("records", last("records")),), ("stage",)
    ),
    ("pipeline.json", "Dead letters"): Spec(
        "pipeline_stage", (("records", last("records")),), ("stage",), where=dead_letters
    ),
    ("pipeline.json", "New dead letters"): Spec(
        "pipeline_stage", (("new", last("records")),), ("stage",), True, dead_letters, difference=True
    ),
    ("pipeline.json", "Consumer lag"): Spec("pipeline_stage", (("lag", maximum("lag")),), ("stage",), True),
    ("pipeline.json", "Current consumer lag"): Spec("pipeline_stage", (("lag", last("lag")),), ("stage",)),
}
