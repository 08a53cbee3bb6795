"""The events' business rules as Spark expressions, on the table of cases the producer's Python check
is tested on (tests/rule_cases.py): the same reason for every case. Through ``decode``, as the job
runs them: each case is an encoded Kafka record whose Kafka timestamp is the cases' "now"."""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from producer.avro_codec import compile_encoder
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from spark_job.decode import decode
from spark_job.rule_columns import broken_rules
from tests.rule_cases import CASES, NOW, RULES, VIEW

V1, V2 = load_schema(EVENT_SCHEMA_FILES[1]), load_schema(EVENT_SCHEMA_FILES[2])
WRITERS = {3: V1, 7: V2}


def _records(spark: SparkSession, values: list[bytes], timestamps_ms: list[int]) -> DataFrame:
    rows = [
        (b"k", v, "shop.events", 0, i, ts)
        for i, (v, ts) in enumerate(zip(values, timestamps_ms, strict=True))
    ]
    return spark.createDataFrame(
        rows, "key binary, value binary, topic string, partition int, offset long, ts long"
    ).selectExpr("key", "value", "topic", "partition", "offset", "timestamp_millis(ts) AS timestamp")


def _errors(spark: SparkSession, events: list[dict[str, Any]], timestamps_ms: list[int]) -> list[str | None]:
    encode = compile_encoder(V2, 7)
    raw = _records(spark, [encode(e) for e in events], timestamps_ms)
    rows = decode(raw, WRITERS, V2, rules=RULES).orderBy("offset").collect()
    return [r["error"] for r in rows]


def test_every_case_gets_the_producers_reason(spark: SparkSession) -> None:
    events = [case.event for case in CASES]
    assert _errors(spark, events, [NOW] * len(events)) == [case.reason for case in CASES]
    assert [RULES.reason(e, NOW) for e in events] == [
        case.reason for case in CASES
    ]  # the Python side, same table


def test_the_future_is_judged_by_the_kafka_timestamp_or_the_wall_clock_if_earlier(
    spark: SparkSession,
) -> None:
    """Kafka timestamps in 2023 judge the 2023 event; one in 2100 (a producer's clock far ahead) does
    not make a 2100 event acceptable: the wall clock, earlier, judges it."""
    in_2100 = 4_102_444_800_000
    events = [{**VIEW, "event_time": NOW + 60_001}, {**VIEW, "event_time": in_2100}]
    assert _errors(spark, events, [NOW + 1, in_2100]) == [
        None,
        "rule violated: event time more than 60 s in the future",
    ]


def test_a_v1_record_is_judged_like_a_v2_one(spark: SparkSession) -> None:
    v1_event = {k: v for k, v in VIEW.items() if k not in ("device", "coupon_code")}
    bad = {**v1_event, "units": 3}
    raw = _records(spark, [compile_encoder(V1, 3)(e) for e in (v1_event, bad)], [NOW, NOW])
    assert [r["error"] for r in decode(raw, WRITERS, V2, rules=RULES).orderBy("offset").collect()] == [
        None,
        "rule violated: units or amount on a non-purchase event",
    ]


def test_an_event_time_beyond_sparks_range_is_undecodable_not_a_query_failure(spark: SparkSession) -> None:
    """2**63 - 1 ms overflows Spark's microseconds: from_avro (PERMISSIVE) yields null, a dead letter."""
    assert _errors(spark, [{**VIEW, "event_time": 2**63 - 1}], [NOW]) == [
        "undecodable Avro body for schema id 7"
    ]


def test_framing_errors_come_before_rules_and_no_rules_means_no_rule_errors(spark: SparkSession) -> None:
    bad = {**VIEW, "campaign_id": "nope"}
    encoded = compile_encoder(V2, 7)(bad)
    raw = _records(spark, [encoded, b"\x01" + encoded[1:]], [NOW, NOW])
    with_rules = [r["error"] for r in decode(raw, WRITERS, V2, rules=RULES).orderBy("offset").collect()]
    assert with_rules == ["rule violated: unknown campaign", "bad magic byte: not Confluent-framed Avro"]
    without = [r["error"] for r in decode(raw, WRITERS, V2).orderBy("offset").collect()]
    assert without == [None, "bad magic byte: not Confluent-framed Avro"]


def test_a_null_event_breaks_no_rule(spark: SparkSession) -> None:
    df = spark.createDataFrame([(None,)], "event struct<tag:string,units:int,total_amount_cents:long,"
                                          "event_time:timestamp,campaign_id:string>")  # fmt: skip
    df = df.withColumn("timestamp", F.timestamp_millis(F.lit(NOW)))
    assert [r[0] for r in df.select(broken_rules(RULES)).collect()] == [None]


@pytest.mark.parametrize("pattern", ["cmp-[0-9]{3}", "cmp-(0[0-9]{2}|1[0-4][0-9])|spring-[a-z]+"])
def test_campaign_patterns_read_alike_in_python_and_java(spark: SparkSession, pattern: str) -> None:
    from dataclasses import replace

    rules = replace(RULES, campaign_pattern=pattern)
    ids = [
        "cmp-000",
        "cmp-149",
        "cmp-150",
        "cmp-999",
        "spring-sale",
        "spring-",
        "cmp-007\n",
        "a\ncmp-007",
        "",
    ]
    events = [{**VIEW, "campaign_id": c} for c in ids]
    raw = _records(spark, [compile_encoder(V2, 7)(e) for e in events], [NOW] * len(events))
    spark_side = [r["error"] for r in decode(raw, WRITERS, V2, rules=rules).orderBy("offset").collect()]
    assert spark_side == [rules.reason(e, NOW) for e in events]
