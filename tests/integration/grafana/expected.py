"""What every dashboard query must answer, computed in plain Python from the points InfluxDB holds.

The dashboards are checked against the data of a real pipeline run (tests/integration/e2e): the KPI
points are those the test computes on its own from the events it produced (tests/integration/
oracle.py), which the run's InfluxDB must hold exactly; the ``pipeline_stage`` points are the
pipeline's own telemetry, read back as the sampler wrote them. One ``Spec`` per panel query
aggregates them as InfluxQL would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from shopstream.ops.dashboards import DLQ_STAGES
from tests.integration.grafana.influx import Point, Result, Row, SeriesKey, TimeRange

MINUTE = 60_000
INTERVALS = {"1m": MINUTE, "5m": 5 * MINUTE}


def kpi_points(
    campaigns: Mapping[tuple[str, int], Mapping[str, Any]],
    segments: Mapping[tuple[str, str, str, int], Mapping[str, Any]],
) -> list[Point]:
    """The oracle's KPIs as the points the sink writes: one per key and window start."""
    points = [
        Point("kpi_campaign", {"campaign_id": campaign}, dict(fields), window)
        for (campaign, window), fields in campaigns.items()
    ]
    points += [
        Point("kpi_segment", {"gender": g, "age_band": band, "state": state}, dict(fields), window)
        for (g, band, state, window), fields in segments.items()
    ]
    return points


def telemetry_points(rows: Sequence[Mapping[str, Any]]) -> list[Point]:
    """``pipeline_stage`` rows read back (InfluxDB's JSON writes a whole float like an integer)."""
    return [
        Point(
            "pipeline_stage",
            {"stage": row["stage"]},
            {"records": int(row["records"]), "rate": float(row["rate"]), "lag": int(row["lag"])},
            int(row["time"]),
        )
        for row in rows
    ]


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
    return point.tags["stage"] in DLQ_STAGES


@dataclass(frozen=True)
class Spec:
    """What one panel query computes, in Python."""

    measurement: str
    columns: tuple[tuple[str, Agg], ...]
    group_by: tuple[str, ...] = ()
    per_interval: bool = False
    where: Filter = everything
    difference: bool = False  # non_negative_difference() of consecutive per-interval values

    def expected(
        self,
        stored: Sequence[Point],
        time_range: TimeRange,
        interval_ms: int,
        campaigns: frozenset[str] | None,
    ) -> Result:
        groups: dict[SeriesKey, list[Point]] = defaultdict(list)
        for p in stored:
            if p.measurement == self.measurement and p.time_ms in time_range and self.where(p, campaigns):
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
