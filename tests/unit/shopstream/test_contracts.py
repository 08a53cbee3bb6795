"""The Avro contracts themselves: valid, namespaced, documented, and evolving as the catalog says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from shopstream.contracts import CONTRACTS, EVENT_SCHEMA_FILES, Topic, avro_dir, load_schema

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
