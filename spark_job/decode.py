"""Decoding Confluent-framed Avro by schema id, into one reader schema; failures become DLQ rows.

Wire format: byte 0 is the magic 0, bytes 1-4 the big-endian schema id, the rest the Avro body.
Each known writer schema decodes its own rows (``from_avro`` with the writer schema and the latest
schema as ``avroSchema`` reader), in PERMISSIVE mode so that a corrupt body yields null instead of
killing the query. Rows that cannot be decoded keep their bytes and get a reason; so do rows that
decode but break the events' business rules (``shopstream/rules.py``), when ``rules`` are given.
"""

from __future__ import annotations

from collections.abc import Collection

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro

from shopstream.rules import Rules
from spark_job.failures import stop_schema_not_loaded
from spark_job.rule_columns import broken_rules

MAGIC = b"\x00"
NEW_IDS = 10_000
"""How far above the newest writer id a query knows a record's schema id may be and still be taken
for a version registered since the query started (registries number schemas in sequence; Apicurio
gives equal content one id): only such an id stops a query whose schemas are fixed. An id further up
is dead-lettered at once, like one the subject does not have: garbage that happens to start with a
zero byte must not restart the pipeline, once per distinct id."""


def framing(value: Column) -> tuple[Column, Column, Column]:
    """(magic ok, schema id, Avro body) of a Confluent-framed value."""
    magic_ok = value.isNotNull() & (F.length(value) >= 5) & (F.substring(value, 1, 1) == F.lit(MAGIC))
    schema_id = F.conv(F.hex(F.substring(value, 2, 4)), 16, 10).cast("long")
    body = F.expr("substring(value, 6, length(value) - 5)")
    return magic_ok, schema_id, body


def decode(
    raw: DataFrame,
    writers: dict[int, str],
    reader: str,
    fail_above: int | None = None,
    missing: Collection[int] = (),
    rules: Rules | None = None,
) -> DataFrame:
    """Adds ``event`` (struct in the reader schema, null on failure) and ``error`` (null on success).

    ``raw`` is a Kafka DataFrame (key, value, topic, partition, offset, timestamp, ...). With
    ``fail_above``, an unknown id above it, by at most ``NEW_IDS`` (and not in ``missing``, the ids
    the registry lacks), fails the query (``failures.stop_schema_not_loaded``): a plan's schemas are
    fixed, so a version registered since the start needs a restart, not the DLQ. With ``rules``, a
    decoded event that breaks one gets the reason (``rule violated: ...``, judged by the row's Kafka
    ``timestamp``) as its error: dead-lettered like an undecodable record, never counted.
    """
    magic_ok, schema_id, body = framing(F.col("value"))
    framed = raw.withColumn("_magic_ok", magic_ok).withColumn("_schema_id", schema_id)
    options = {"mode": "PERMISSIVE", "avroSchema": reader}
    decoded: Column = from_avro(F.lit(None).cast("binary"), reader, options)  # a null of the reader's type
    for sid, writer in sorted(writers.items()):
        decoded = F.when(F.col("_schema_id") == sid, from_avro(body, writer, options)).otherwise(decoded)
    known = F.col("_schema_id").isin(list(writers)) if writers else F.lit(False)
    if fail_above is not None:
        id_ = F.col("_schema_id")
        unseen = id_.between(fail_above + 1, fail_above + NEW_IDS) & ~id_.isin(list(missing))
        stop = stop_schema_not_loaded(F.col("_schema_id"))
        known = F.when(F.col("_magic_ok") & ~known & unseen, stop.cast("boolean")).otherwise(known)
    with_event = framed.withColumn("event", F.when(F.col("_magic_ok") & known, decoded))
    error = (
        F.when(F.col("value").isNull(), F.lit("null value"))
        .when(~F.col("_magic_ok"), F.lit("bad magic byte: not Confluent-framed Avro"))
        .when(~known, F.concat(F.lit("unknown schema id "), F.col("_schema_id").cast("string")))
        .when(
            F.col("event").isNull() | F.col("event.event_id").isNull(),
            F.concat(F.lit("undecodable Avro body for schema id "), F.col("_schema_id").cast("string")),
        )
    )
    if rules is not None:
        with_event = with_event.withColumn("_broken", broken_rules(rules))
        error = error.when(F.col("_broken").isNotNull(), F.col("_broken"))
    return with_event.withColumn("error", error).drop("_magic_ok", "_broken")


def dlq_headers(source_topic: str) -> Column:
    """Headers of a dead letter: why it failed and where it came from."""

    def header(name: str, value: Column) -> Column:
        return F.struct(F.lit(name).alias("key"), value.cast("string").cast("binary").alias("value"))

    return F.array(
        header("dlq.reason", F.col("error")),
        header("dlq.source.topic", F.lit(source_topic)),
        header("dlq.source.partition", F.col("partition")),
        header("dlq.source.offset", F.col("offset")),
        header("dlq.source.timestamp.ms", F.unix_millis(F.col("timestamp"))),
    )
