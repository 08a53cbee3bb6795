"""The benchmarks' records: the producer's traffic joined with the demographics, and KPI records."""

from __future__ import annotations

from shopstream.bench.records import enriched_events, kpi_campaign_records
from shopstream.contracts import ENRICHED_SCHEMA_FILE, KPI_SCHEMA_FILES, Topic, age_bands, field_names


def test_enriched_events_are_distinct_realistic_and_time_ordered() -> None:
    records = list(enriched_events(5_000, seed=3, start_ms=1_000_000, span_ms=50_000))
    assert len({r["event_id"] for r in records}) == 5_000
    assert set(records[0]) == set(field_names(ENRICHED_SCHEMA_FILE))
    assert [r["event_time"] for r in records] == sorted(r["event_time"] for r in records)
    assert records[0]["event_time"] >= 1_000_000 and records[-1]["event_time"] < 1_052_500  # about the span
    known = [r for r in records if r["gender"] is not None]
    assert 0.9 < len(known) / len(records) < 0.99  # users above 100,000 have no demographics
    assert all(r["age_band"] == age_bands().of(r["age"]) for r in known)
    purchases = [r for r in records if r["tag"] == "purchase"]
    assert purchases and all(
        r["order_id"] and r["units"] > 0 and r["total_amount_cents"] > 0 for r in purchases
    )
    assert all(r["units"] == 0 and r["order_id"] is None for r in records if r["tag"] != "purchase")
    assert all(r["event_time"] < r["source_timestamp"] < r["produced_at"] for r in records)


def test_kpi_records_are_distinct_points_of_the_contract() -> None:
    records = list(kpi_campaign_records(2_000, seed=1, start_ms=60_000, campaigns=1_000))
    assert len({(r["campaign_id"], r["window_start"]) for r in records}) == 2_000
    assert set(records[0]) == set(field_names(KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN]))
    assert records[1_001]["campaign_id"] == "cmp-001" and records[1_001]["window_start"] == 120_000
    assert all(r["window_start"] <= r["last_event_time"] < r["window_end"] for r in records)
