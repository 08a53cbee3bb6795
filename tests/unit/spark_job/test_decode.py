"""Decoding by schema id: v1 and v2 writers into the v2 reader; every failure gets its reason."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from producer.avro_codec import compile_encoder
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from spark_job.decode import NEW_IDS, decode, dlq_headers
from spark_job.failures import failure_of

V1, V2 = load_schema(EVENT_SCHEMA_FILES[1]), load_schema(EVENT_SCHEMA_FILES[2])
WRITERS = {3: V1, 7: V2}


def _raw(spark: SparkSession, values: list[bytes | None]) -> object:
    rows = [(b"k", v, "shop.events", 0, i) for i, v in enumerate(values)]
    return spark.createDataFrame(
        rows, "key binary, value binary, topic string, partition int, offset long"
    ).selectExpr("*", "timestamp_millis(1700000000000 + offset) AS timestamp")


def test_v1_and_v2_decode_into_the_reader_and_failures_carry_reasons(spark: SparkSession) -> None:
    v1_event = TrafficModel(TrafficConfig(seed=1, schema_version=1)).take(1)[0]
    v2_event = TrafficModel(TrafficConfig(seed=2, schema_version=2)).take(1)[0]
    v2_event = {**v2_event, "device": "tablet", "coupon_code": "SPRING10"}
    v1_bytes = compile_encoder(V1, 3)(v1_event)
    v2_bytes = compile_encoder(V2, 7)(v2_event)
    values = [
        v1_bytes,
        v2_bytes,
        b"\x01" + v2_bytes[1:],  # bad magic byte
        b"\x00\x00\x00\x00\x63" + v2_bytes[5:],  # id 99: not a writer of this subject
        v2_bytes[:12],  # truncated body
        b"\x00\x00",  # too short to be framed
        None,
    ]
    decoded = decode(_raw(spark, values), WRITERS, V2)  # type: ignore[arg-type]
    rows = {r["offset"]: r for r in decoded.collect()}

    first, second = rows[0]["event"].asDict(), rows[1]["event"].asDict()
    assert rows[0]["error"] is None and rows[1]["error"] is None
    assert (
        first["event_id"] == v1_event["event_id"] and first["device"] is None and first["coupon_code"] is None
    )
    assert first["total_amount_cents"] == v1_event["total_amount_cents"] and first["tag"] == v1_event["tag"]
    assert int(first["event_time"].timestamp() * 1000) == v1_event["event_time"]
    assert second["device"] == "tablet" and second["coupon_code"] == "SPRING10"
    assert (rows[0]["_schema_id"], rows[1]["_schema_id"]) == (3, 7)
    assert [rows[i]["error"] for i in range(2, 7)] == [
        "bad magic byte: not Confluent-framed Avro",
        "unknown schema id 99",
        "undecodable Avro body for schema id 7",
        "bad magic byte: not Confluent-framed Avro",
        "null value",
    ]


def test_dead_letters_keep_bytes_and_say_why_and_where(spark: SparkSession) -> None:
    decoded = decode(_raw(spark, [b"garbage!", None]), WRITERS, V2)  # type: ignore[arg-type]
    dead = decoded.where(F.col("error").isNotNull()).select(
        "key", "value", dlq_headers("shop.events").alias("headers")
    )
    dlq = {r["value"] and bytes(r["value"]): r for r in dead.collect()}
    row = dlq[b"garbage!"]
    headers = {h["key"]: bytes(h["value"]).decode() for h in row["headers"]}
    assert headers == {
        "dlq.reason": "bad magic byte: not Confluent-framed Avro",
        "dlq.source.topic": "shop.events",
        "dlq.source.partition": "0",
        "dlq.source.offset": "0",
        "dlq.source.timestamp.ms": "1700000000000",
    }
    assert bytes(row["key"]) == b"k"
    assert len(dlq) == 2


def test_no_writer_known_yet_sends_everything_to_the_dlq(spark: SparkSession) -> None:
    event = TrafficModel(TrafficConfig(seed=3)).take(1)[0]
    decoded = decode(_raw(spark, [compile_encoder(V2, 7)(event)]), {}, V2)  # type: ignore[arg-type]
    assert [r["error"] for r in decoded.collect()] == ["unknown schema id 7"]
    assert json.loads(V2)["name"] == "ShopEvent"


def test_realtime_decoding_stops_on_an_id_above_the_known_ones_unless_known_missing(
    spark: SparkSession,
) -> None:
    event = TrafficModel(TrafficConfig(seed=4)).take(1)[0]
    body = compile_encoder(V2, 7)(event)[5:]
    below, above = b"\x00\x00\x00\x00\x05" + body, b"\x00\x00\x00\x00\x08" + body

    decoded = decode(_raw(spark, [below]), WRITERS, V2, fail_above=7)  # type: ignore[arg-type]
    assert [r["error"] for r in decoded.collect()] == ["unknown schema id 5"]  # no newer version: DLQ
    with pytest.raises(Exception) as stopped:
        decode(_raw(spark, [above]), WRITERS, V2, fail_above=7).collect()  # type: ignore[arg-type]
    failure = failure_of(stopped.value)  # Spark's error condition and parameters, not the text
    assert (failure.kind, failure.schema_id) == ("schema_not_loaded", 8)
    missing = decode(_raw(spark, [above]), WRITERS, V2, fail_above=7, missing={8})  # type: ignore[arg-type]
    assert [r["error"] for r in missing.collect()] == ["unknown schema id 8"]


def test_an_id_far_above_the_known_ones_is_dead_lettered_without_stopping(spark: SparkSession) -> None:
    """Only ids up to NEW_IDS above the newest known are taken for versions registered since."""
    event = TrafficModel(TrafficConfig(seed=4)).take(1)[0]
    body = compile_encoder(V2, 7)(event)[5:]
    last_new, beyond = 7 + NEW_IDS, 7 + NEW_IDS + 1
    values = [b"\x00" + beyond.to_bytes(4, "big") + body, b"\x00\xff\xff\xff\xff" + body]
    decoded = decode(_raw(spark, values), WRITERS, V2, fail_above=7)  # type: ignore[arg-type]
    assert [r["error"] for r in decoded.orderBy("offset").collect()] == [
        f"unknown schema id {beyond}",
        "unknown schema id 4294967295",
    ]
    with pytest.raises(Exception) as stopped:
        raw = _raw(spark, [b"\x00" + last_new.to_bytes(4, "big") + body])
        decode(raw, WRITERS, V2, fail_above=7).collect()  # type: ignore[arg-type]
    assert failure_of(stopped.value).schema_id == last_new
