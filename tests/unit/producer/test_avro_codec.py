"""The compiled encoder is byte-identical to fastavro (which AvroSerializer uses) and refuses bad records."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import fastavro
import pytest

from producer.avro_codec import UnsupportedSchema, compile_encoder
from shopstream.contracts import load_schema

EVERY_TYPE = {
    "type": "record",
    "name": "Everything",
    "fields": [
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "s", "type": "string"},
        {"name": "b", "type": "bytes"},
        {"name": "flag", "type": "boolean"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["a", "b", "c"]}},
        {"name": "opt_s", "type": ["null", "string"], "default": None},
        {"name": "opt_l_first", "type": ["long", "null"]},
    ],
}


def _fastavro(schema: dict[str, Any], record: dict[str, Any], schema_id: int) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def _random_record(rng: random.Random) -> dict[str, Any]:
    text = "".join(rng.choice("aé€z😀 ") for _ in range(rng.choice([0, 1, 5, 63, 64, 200])))
    return {
        "i": rng.choice([0, -1, 1, 63, 64, -64, -65, 8191, 8192, -8193, 2**31 - 1, -(2**31)]),
        "l": rng.choice([0, 2**63 - 1, -(2**63), rng.randint(-(2**62), 2**62), 1_795_488_909_456]),
        "ts": rng.randint(0, 2**42),
        "s": text,
        "b": rng.randbytes(rng.choice([0, 3, 130])),
        "flag": rng.random() < 0.5,
        "f": rng.choice([0.0, 1.5, -3.25]),
        "d": rng.uniform(-1e9, 1e9),
        "e": rng.choice("abc"),
        "opt_s": rng.choice([None, text, "cmp-001"]),
        "opt_l_first": rng.choice([None, rng.randint(-(2**40), 2**40)]),
    }


def test_every_supported_type_encodes_exactly_like_fastavro() -> None:
    rng = random.Random(5)
    encode = compile_encoder(EVERY_TYPE, 258)
    for _ in range(5_000):
        record = _random_record(rng)
        assert encode(record) == _fastavro(EVERY_TYPE, record, 258), record


@pytest.mark.parametrize("version", ["shop_event.v1.avsc", "shop_event.v2.avsc"])
def test_shop_events_encode_exactly_like_fastavro(version: str) -> None:
    from producer.traffic import TrafficConfig, TrafficModel

    schema = json.loads(load_schema(version))
    encode = compile_encoder(schema, 7)
    config = TrafficConfig(seed=9, schema_version=1 if "v1" in version else 2)
    for event in TrafficModel(config).take(5_000):
        assert encode(event) == _fastavro(schema, event, 7)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"i": "1"}, TypeError),
        ({"i": 2**31}, ValueError),
        ({"l": 2**63}, ValueError),
        ({"l": 1.5}, TypeError),
        ({"s": None}, TypeError),
        ({"s": 5}, TypeError),
        ({"e": "z"}, KeyError),
        ({"flag": 1}, TypeError),
        ({"b": "text"}, TypeError),
    ],
)
def test_records_that_do_not_fit_are_refused(change: dict[str, Any], error: type[Exception]) -> None:
    record = {**_random_record(random.Random(1)), **change}
    with pytest.raises(error):
        compile_encoder(EVERY_TYPE, 1)(record)


def test_missing_field_is_refused() -> None:
    record = _random_record(random.Random(2))
    del record["d"]
    with pytest.raises(KeyError, match="d"):
        compile_encoder(EVERY_TYPE, 1)(record)


@pytest.mark.parametrize(
    "field_type",
    [
        {"type": "array", "items": "string"},
        {"type": "map", "values": "long"},
        ["null", "string", "long"],
        {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
    ],
)
def test_unsupported_constructs_are_reported_not_miscompiled(field_type: object) -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "x", "type": field_type}]}
    with pytest.raises(UnsupportedSchema, match="field x"):
        compile_encoder(schema, 1)
