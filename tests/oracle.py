"""The tests' own KPI computation: what the Spark job must emit, computed in plain Python from the
events the test produced and the demographics rows, independently of Spark.

Campaign KPIs per (campaign, window start); segment KPIs per (gender, age band, state, window start),
users without demographics in the ("unknown",) * 3 segment. Ratios are plain Python floats (``x / y``,
0.0 when y is 0), as the contract documents them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from shopstream.contracts import age_bands

WINDOW_MS = 60_000
TAGS = ("view", "click", "add_to_cart", "purchase")
Event = Mapping[str, Any]
Person = tuple[Any, ...]  # a demographics row: (id, age, gender, state, country)


def window_of(event: Event) -> int:
    return int(event["event_time"]) // WINDOW_MS * WINDOW_MS


def campaign_kpis(events: Iterable[Event]) -> dict[tuple[str, int], dict[str, Any]]:
    groups: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for e in events:
        groups[(e["campaign_id"], window_of(e))].append(e)
    expected = {}
    for key, rows in groups.items():
        count = {tag: sum(r["tag"] == tag for r in rows) for tag in TAGS}
        purchases = [r for r in rows if r["tag"] == "purchase"]
        revenue = sum(int(r["total_amount_cents"]) for r in purchases)
        expected[key] = {
            "views": count["view"],
            "clicks": count["click"],
            "add_to_carts": count["add_to_cart"],
            "purchases": count["purchase"],
            "revenue_cents": revenue,
            "units": sum(int(r["units"]) for r in purchases),
            "conversion_rate": count["purchase"] / count["click"] if count["click"] else 0.0,
            "avg_order_value_cents": revenue / count["purchase"] if count["purchase"] else 0.0,
            "active_users": len({r["user_id"] for r in rows}),
            "last_event_time": max(int(r["event_time"]) for r in rows),
        }
    return expected


def segment_of(event: Event, people: Mapping[int, Person]) -> tuple[str, str, str]:
    person = people.get(int(event["user_id"]))
    if person is None:
        return ("unknown", "unknown", "unknown")
    return person[2], age_bands().of(int(person[1])) or "unknown", person[3]


def segment_kpis(
    events: Iterable[Event], people: Mapping[int, Person]
) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    groups: dict[tuple[str, str, str, int], list[Event]] = defaultdict(list)
    for e in events:
        groups[(*segment_of(e, people), window_of(e))].append(e)
    return {
        key: {
            "revenue_cents": sum(int(r["total_amount_cents"]) for r in rows if r["tag"] == "purchase"),
            "purchases": sum(r["tag"] == "purchase" for r in rows),
            "users": len({r["user_id"] for r in rows}),
            "last_event_time": max(int(r["event_time"]) for r in rows),
        }
        for key, rows in groups.items()
    }
