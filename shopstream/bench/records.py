"""Records for the benchmarks that load a topic downstream of the Spark job (`bench sink`): the
producer's own traffic model, joined with the demographics the loader writes, as the enrichment
emits it; and campaign KPI records of the KPI contract.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import islice
from typing import Any

from producer.traffic import TrafficConfig, TrafficModel
from shopstream.contracts import KPI_SCHEMA_FILES, Topic, age_bands, avro_base_type, schema_fields
from shopstream.ops.demographics import DEMOGRAPHICS_SEED, generate

Record = dict[str, Any]
USERS = 100_000  # the demographics table's ids


def enriched_events(count: int, seed: int, start_ms: int, span_ms: int) -> Iterator[Record]:
    """``count`` enriched events: the traffic model's events (users up to 105,000: about 1 in 20
    has no demographics and stays unenriched) with event times over [start_ms, start_ms + span_ms),
    joined with the seeded demographics, stamped as if produced and enriched 1-200 ms later."""
    people = {row[0]: row for row in generate(USERS, DEMOGRAPHICS_SEED)}
    bands = age_bands()
    stamps = random.Random(seed)
    config = TrafficConfig(
        seed=seed, users=105_000, start_ms=start_ms, events_per_second=count / (span_ms / 1000)
    )
    for event in islice(TrafficModel(config).events(), count):  # lazily: callers take millions
        person = people.get(event["user_id"])
        source = event["event_time"] + stamps.randint(1, 40)
        yield {
            **event,
            "age": person[1] if person else None,
            "age_band": bands.of(person[1]) if person else None,
            "gender": person[2] if person else None,
            "state": person[3] if person else None,
            "country": person[4] if person else None,
            "source_timestamp": source,
            "produced_at": source + stamps.randint(1, 160),
        }


def kpi_campaign_records(count: int, seed: int, start_ms: int, campaigns: int = 1_000) -> Iterator[Record]:
    """``count`` campaign KPI records, each a distinct (campaign, one-minute window) point: windows
    of ``campaigns`` campaigns from ``start_ms`` on, consistent funnel counts; a field of the contract
    not made here gets a value of its type (a time inside the window for timestamps)."""
    rng = random.Random(seed)
    made = {
        "campaign_id", "window_start", "window_end", "views", "clicks", "add_to_carts", "purchases",
        "revenue_cents", "units", "conversion_rate", "avg_order_value_cents", "active_users",
    }  # fmt: skip
    others = [f for f in schema_fields(KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN]) if f["name"] not in made]
    for i in range(count):
        window_start = start_ms + (i // campaigns) * 60_000
        views = rng.randint(100, 5_000)
        clicks = rng.randint(0, views // 3)
        carts = rng.randint(0, clicks)
        purchases = rng.randint(0, carts)
        revenue = purchases * rng.randint(299, 19_999)
        record: Record = {
            "campaign_id": f"cmp-{i % campaigns:03d}",
            "window_start": window_start,
            "window_end": window_start + 60_000,
            "views": views,
            "clicks": clicks,
            "add_to_carts": carts,
            "purchases": purchases,
            "revenue_cents": revenue,
            "units": purchases * rng.randint(1, 3),
            "conversion_rate": purchases / clicks if clicks else 0.0,
            "avg_order_value_cents": revenue / purchases if purchases else 0.0,
            "active_users": rng.randint(1, views),
        }
        for f in others:
            timestamp = isinstance(f["type"], dict) and f["type"].get("logicalType") == "timestamp-millis"
            kind = avro_base_type(f["type"])
            record[f["name"]] = window_start + rng.randrange(60_000) if timestamp else _ZERO.get(kind)
        yield record


_ZERO: dict[str, Any] = {"long": 0, "int": 0, "double": 0.0, "float": 0.0, "string": ""}
