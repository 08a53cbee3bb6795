"""The business alerts (grafana/provisioning/alerting/business-alerts.yml) on the real InfluxDB: each
rule's InfluxQL runs as Grafana sends it, against KPI points shaped like the pipeline's (an hour of
one-minute windows of two campaigns, in a database of its own), and Grafana's reduce (last non-null)
and threshold are applied to the answer. A steady hour stays quiet; revenue falling to 30 % fires the
revenue rule only; conversion falling to a fifth fires the conversion rule only. The answered ratio
equals the one computed here from the points (to 3 %: the query's own clock decides which minute is
the newest complete one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from shopstream.ops.dashboards import INFLUXDB_UID, grafana_dir
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.grafana.influx import InfluxDB, Point
from tests.integration.leftovers import token

RULES_FILE = grafana_dir() / "provisioning" / "alerting" / "business-alerts.yml"
MINUTES = 70  # windows written: the hour the rules look at, and more
CHANGED = 7  # the newest minutes that differ from the hour before them


def _rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return {rule["uid"]: rule for group in groups for rule in group["rules"]}


def _points(now_ms: int, revenue_after: int, purchases_after: int) -> list[Point]:
    """One point per minute and campaign: 100 clicks, 10 purchases, 1,000 cents each; the newest
    CHANGED minutes with ``revenue_after`` cents and ``purchases_after`` purchases instead."""
    minute = now_ms // 60_000 * 60_000
    points = []
    for back in range(MINUTES):
        changed = back < CHANGED
        for campaign in ("cmp-001", "cmp-002"):
            purchases = purchases_after if changed else 10
            revenue = revenue_after if changed else 1_000
            fields: dict[str, int | float] = {
                "views": 400, "clicks": 100, "add_to_carts": 20, "purchases": purchases,
                "revenue_cents": revenue, "units": purchases, "active_users": 50,
                "last_event_time": minute - back * 60_000 + 59_000,
                "conversion_rate": purchases / 100, "avg_order_value_cents": revenue / max(purchases, 1),
            }  # fmt: skip
            points.append(Point("kpi_campaign", {"campaign_id": campaign}, fields, minute - back * 60_000))
    return points


def _evaluate(db: InfluxDB, rule: dict[str, Any]) -> float | None:
    """Query A as Grafana runs it, reduced as B (last non-null)."""
    a, b, c = rule["data"]
    assert a["datasourceUid"] == INFLUXDB_UID and a["model"]["rawQuery"] is True
    assert (b["model"]["type"], b["model"]["reducer"], b["model"]["expression"]) == ("reduce", "last", "A")
    assert (c["model"]["type"], c["model"]["expression"], rule["condition"]) == ("threshold", "B", "C")
    values = [
        row[1] for series in db.query(a["model"]["query"]) for row in series["values"] if row[1] is not None
    ]
    return float(values[-1]) if values else None


def _fires(rule: dict[str, Any], value: float | None) -> bool:
    (condition,) = rule["data"][2]["model"]["conditions"]
    kind, (threshold,) = condition["evaluator"]["type"], condition["evaluator"]["params"]
    assert kind == "lt"
    return value is not None and value < threshold


@pytest.fixture
def kpis(stack: Stack, settings: Settings) -> Iterator[InfluxDB]:
    db = InfluxDB(settings, f"test_alerts_{token()}")
    db.create()
    try:
        yield db
    finally:
        db.drop()


def test_the_rules_are_grafanas_file_provisioning_format() -> None:
    content = yaml.safe_load(RULES_FILE.read_text())
    assert content["apiVersion"] == 1
    assert set(_rules()) == {"shopstream-revenue-drop", "shopstream-conversion-collapse"}
    for rule in _rules().values():
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"]
        assert rule["for"] and rule["noDataState"] in ("OK", "NoData", "Alerting")


@pytest.mark.parametrize(
    ("scenario", "revenue_after", "purchases_after", "expected"),
    [
        # ratios: revenue of the newest complete minute / the hour's mean per minute (61 one-minute
        # buckets: the first one empty (fill(0)), 5 changed, 55 as before); conversion of the newest
        # 5-minute bucket (changed minutes only) / the hour's (60 minutes: 5 changed)
        ("steady", 1_000, 10, {"shopstream-revenue-drop": 61 / 60, "shopstream-conversion-collapse": 1.0}),
        ("revenue falls", 300, 10, {"shopstream-revenue-drop": 300 / ((55 * 1000 + 5 * 300) / 61)}),
        (
            "conversion collapses",
            1_000,
            2,
            {"shopstream-conversion-collapse": 0.02 / ((55 * 10 + 5 * 2) / 6000)},
        ),
    ],
)
def test_business_alert_queries_answer_the_ratio_and_fire_as_grafana_would(
    kpis: InfluxDB, scenario: str, revenue_after: int, purchases_after: int, expected: dict[str, float]
) -> None:
    now_ms = int(time.time() * 1000)
    if now_ms % 60_000 > 50_000:  # never across a minute boundary between writing and querying
        time.sleep(11)
        now_ms = int(time.time() * 1000)
    kpis.write(_points(now_ms, revenue_after, purchases_after))
    for uid, rule in _rules().items():
        value = _evaluate(kpis, rule)
        assert value is not None, f"{scenario}: {uid} answered nothing"
        if uid in expected:
            assert value == pytest.approx(expected[uid], rel=0.03), (scenario, uid, value)
            assert _fires(rule, value) is (expected[uid] < 0.5), (scenario, uid, value)
        else:
            assert not _fires(rule, value), (scenario, uid, value)
