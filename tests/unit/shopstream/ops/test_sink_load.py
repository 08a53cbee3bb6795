"""The sink's mapping as the benchmark and the sink's integration tests rebuild it from the connector
files: line protocol, disambiguated times (the same offsets as the Java connector's own test), the
Confluent wire format; and the generated enriched events."""

from __future__ import annotations

import io

import fastavro

from shopstream.contracts import age_bands, shop_events
from shopstream.ops.sink_load import SinkMapping, enriched_records, kpi_campaign_records


def test_disambiguation_offsets_are_the_connectors() -> None:
    events = SinkMapping.of("influxdb-events.json")
    # EventTimeTest.java: disambiguationOffset("evt-1", 1_000_000) == 520_361, "evt-2" -> 672_066
    assert events.time_of({"event_time": 1_000, "event_id": "evt-1"}) == 1_000 * 1_000_000 + 520_361
    assert events.time_of({"event_time": 1_000, "event_id": "evt-2"}) == 1_000 * 1_000_000 + 672_066


def test_event_points_follow_the_connector_file_and_the_contract() -> None:
    events = SinkMapping.of("influxdb-events.json")
    assert events.measurement == "shop_events" and events.precision == "ns"
    assert set(events.tags) == set(shop_events().tags)
    assert {name for name, _ in events.fields} == set(shop_events().fields)
    [record] = enriched_records(1, seed=1, start_ms=1_700_000_000_000, span_ms=1)
    record.update(gender=None, state="N W", order_id=None, sku='say "hi"')
    line = events.line(record)
    tags, fields, time = events.point(record)
    assert "gender" not in tags and "order_id" not in fields and "event_time" not in fields
    assert line.startswith(f"shop_events,age_band={record['age_band']},campaign_id={record['campaign_id']},")
    assert ",state=N\\ W," in line and f",user_id={record['user_id']}i," in line
    assert 'sku="say \\"hi\\""' in line and line.endswith(f" {time}")


def test_kpi_points_are_at_window_start_in_ms_without_window_end() -> None:
    kpi = SinkMapping.of("influxdb-kpi-campaign.json")
    records = list(kpi_campaign_records(2_000, seed=1, start_ms=60_000, campaigns=1_000))
    assert len({(r["campaign_id"], r["window_start"]) for r in records}) == 2_000
    tags, fields, time = kpi.point(records[1_001])
    assert tags == {"campaign_id": "cmp-001"} and time == 120_000
    assert "window_end" not in fields and "window_start" not in fields
    assert isinstance(fields["conversion_rate"], float) and isinstance(fields["views"], int)


def test_avro_is_the_confluent_wire_format_of_the_contract() -> None:
    events = SinkMapping.of("influxdb-events.json")
    [record] = enriched_records(1, seed=2, start_ms=1_700_000_000_000, span_ms=1)
    raw = events.avro(record, 4711)
    assert raw[:5] == b"\x00" + (4711).to_bytes(4, "big")
    decoded = fastavro.schemaless_reader(
        io.BytesIO(raw[5:]), events.parsed_schema, None, return_record_name=False
    )
    assert isinstance(decoded, dict)
    as_ms = {k: int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v for k, v in decoded.items()}
    assert as_ms == record


def test_enriched_records_are_distinct_realistic_and_time_ordered() -> None:
    records = list(enriched_records(5_000, seed=3, start_ms=1_000_000, span_ms=50_000))
    assert len({r["event_id"] for r in records}) == 5_000
    assert [r["event_time"] for r in records] == sorted(r["event_time"] for r in records)
    assert records[0]["event_time"] == 1_000_000 and records[-1]["event_time"] < 1_050_000
    known = [r for r in records if r["gender"] is not None]
    assert 0.9 < len(known) / len(records) < 0.99
    assert all(r["age_band"] == age_bands().of(r["age"]) for r in known)
    purchases = [r for r in records if r["tag"] == "purchase"]
    assert purchases and all(
        r["order_id"] and r["units"] > 0 and r["total_amount_cents"] > 0 for r in purchases
    )
    assert all(r["units"] == 0 and r["order_id"] is None for r in records if r["tag"] != "purchase")
