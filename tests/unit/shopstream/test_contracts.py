"""The Avro contracts themselves: valid, namespaced, documented, and evolving as the catalog says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from shopstream.connector_file import ConnectorFile
from shopstream.contracts import (
    CONTRACTS,
    EVENT_SCHEMA_FILES,
    Measurement,
    Topic,
    age_bands,
    avro_dir,
    field_names,
    kpi_campaign,
    kpi_segment,
    load_schema,
    measurements,
    shop_events,
    sink_measurement,
)
from shopstream.errors import ContractError
from shopstream.resources import project_file
from shopstream.settings import Settings

SCHEMA_FILES = sorted(avro_dir().glob("*.avsc"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_is_valid_namespaced_and_every_field_documented(path: Path) -> None:
    schema: dict[str, Any] = json.loads(path.read_text())
    fastavro.parse_schema(schema)
    assert schema["namespace"].startswith("io.shopstream.")
    assert schema["doc"]
    assert [f["name"] for f in schema["fields"] if not f.get("doc")] == []


def test_every_contract_file_exists_and_event_versions_are_in_order() -> None:
    for contract in CONTRACTS:
        for name in contract.files:
            assert (avro_dir() / name).is_file()
    events = next(c for c in CONTRACTS if c.topic is Topic.EVENTS)
    assert list(events.files) == [EVENT_SCHEMA_FILES[1], EVENT_SCHEMA_FILES[2]]


def test_v2_only_adds_optional_fields_with_defaults() -> None:
    v1 = json.loads(load_schema(EVENT_SCHEMA_FILES[1]))
    v2 = json.loads(load_schema(EVENT_SCHEMA_FILES[2]))
    assert v2["fields"][: len(v1["fields"])] == v1["fields"]
    added = v2["fields"][len(v1["fields"]) :]
    assert added and all("default" in f and f["default"] is None for f in added)


def test_v1_data_reads_with_v2_as_reader_schema() -> None:
    """What BACKWARD promises, checked locally with fastavro's schema resolution."""
    import io

    v1 = fastavro.parse_schema(json.loads(load_schema(EVENT_SCHEMA_FILES[1])))
    v2 = fastavro.parse_schema(json.loads(load_schema(EVENT_SCHEMA_FILES[2])))
    record = {
        "event_id": "e", "event_time": 1, "user_id": 1, "session_id": "s", "campaign_id": "c",
        "tag": "view", "order_id": None, "sku": "k", "category": "x", "total_amount_cents": 0, "units": 0,
    }  # fmt: skip
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, v1, record)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, v1, v2)
    assert isinstance(decoded, dict)
    assert decoded["device"] is None and decoded["coupon_code"] is None


def test_load_schema_normalises_whitespace() -> None:
    text = load_schema("kpi_campaign.avsc")
    assert text == json.dumps(
        json.loads((avro_dir() / "kpi_campaign.avsc").read_text()), separators=(",", ":")
    )


def test_every_topic_setting_has_a_typed_accessor() -> None:
    settings = Settings().with_topic_prefix("x")
    assert sorted(t.name_in(settings) for t in Topic) == sorted(settings.topics.all)
    assert Topic.EVENTS.name_in(settings) == settings.topics.events == "x.shop.events"
    assert CONTRACTS[0].subject(settings) == "x.shop.events-value"


def test_measurements_are_what_the_sink_connectors_write() -> None:
    assert kpi_campaign() == Measurement(
        "kpi_campaign",
        tags=("campaign_id",),
        integer_fields=(
            "views",
            "clicks",
            "add_to_carts",
            "purchases",
            "revenue_cents",
            "units",
            "active_users",
            "last_event_time",
        ),
        float_fields=("conversion_rate", "avg_order_value_cents"),
    )
    assert kpi_segment() == Measurement(
        "kpi_segment",
        tags=("gender", "age_band", "state"),
        integer_fields=("revenue_cents", "purchases", "users", "last_event_time"),
    )
    assert shop_events() == Measurement(
        "shop_events",
        tags=("campaign_id", "tag", "gender", "age_band", "state", "country"),
        integer_fields=("user_id", "total_amount_cents", "units", "source_timestamp", "produced_at"),
        string_fields=("event_id", "sku"),
        rp_setting="influxdb_events_rp",
    )
    assert shop_events().qualified(Settings()) == '"events_7d"."shop_events"'
    assert kpi_campaign().qualified(Settings()) == '"kpi_campaign"'
    assert set(measurements()) == {"kpi_campaign", "kpi_segment", "shop_events", "pipeline_stage"}
    assert field_names("kpi_segment.avsc")[:3] == kpi_segment().tags


def test_a_sink_config_the_contract_cannot_read_fails_naming_the_file(tmp_path: Path) -> None:
    config = json.loads((project_file("connectors") / "influxdb-kpi-campaign.json").read_text())
    config["config"]["tags.fields"] = "views"
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(ContractError, match=r"bad.json: tag views is not a string field"):
        sink_measurement(ConnectorFile.read(tmp_path / "bad.json"))
    config["config"]["topics"] = "shop.kpi.campaign"
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(ContractError, match=r"bad.json: topics must be a \$\{settings:...\} placeholder"):
        sink_measurement(ConnectorFile.read(tmp_path / "bad.json"))


def test_age_bands_are_read_from_the_enriched_events_doc() -> None:
    bands = age_bands()
    assert bands.bands == (
        (18, 24, "18-24"),
        (25, 34, "25-34"),
        (35, 44, "35-44"),
        (45, 54, "45-54"),
        (55, 64, "55-64"),
    )
    assert bands.oldest == (65, "65+")
    assert [bands.of(age) for age in (17, 18, 24, 25, 64, 65, 90)] == [
        None,
        "18-24",
        "18-24",
        "25-34",
        "55-64",
        "65+",
        "65+",
    ]


def test_kpi_records_read_every_dimension_and_count_of_their_measurement() -> None:
    from dataclasses import fields

    from shopstream.ops.kpi_view import CampaignKpi, SegmentKpi

    for record, measurement in ((CampaignKpi, kpi_campaign()), (SegmentKpi, kpi_segment())):
        names = [f.name for f in fields(record)]
        assert [n for n in names if n in measurement.tags] == list(measurement.tags)
        assert set(names) - {"window_start_ms", "window_end_ms"} <= set(measurement.fields) | set(
            measurement.tags
        )
