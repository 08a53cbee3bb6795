"""The job's two plans as functions of DataFrames and writer schemas: no registry, no Kafka, no
MariaDB here. ``job.py`` wires them to Kafka sources and sinks, the registry's schemas and the cached
demographics; unit tests run them on static frames of Kafka-shaped rows.

* ``enriched_or_dead``: raw Kafka rows -> one output row each, an enriched record (Avro, the enriched
  contract) or a dead letter (the original bytes, reason headers), each naming its topic.
* ``kpi_events`` + ``kpi_records``: raw Kafka rows -> the valid events, each event id once (within
  the watermark), joined with demographics -> windowed KPI rows of both families (Avro, keyed by
  dimensions and window start), each naming its topic.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import to_avro

from shopstream.rules import Rules
from spark_job.decode import decode, dlq_headers
from spark_job.enrich import enrich
from spark_job.kpi import CAMPAIGN, EVENT_KEY, SEGMENT_DIMS, distinct_events, event_key, kpi_rows
from spark_job.rule_columns import wall_clock

KPI_EVENT_COLUMNS = ("event_time", "tag", "user_id", "campaign_id", "total_amount_cents", "units")


@dataclass(frozen=True)
class WriterSchema:
    """A registered schema the job writes with: its id (in the Confluent frame) and its JSON."""

    id: int
    schema: str


@dataclass(frozen=True)
class EventSchemas:
    """What the plans decode the source events with: every writer version by id, the reader (the
    newest contract), and, for a plan whose schemas are fixed at start, the newest id it knows: an
    unseen id above it stops the query (a version registered since), unless the registry said it is
    ``missing``."""

    writers: dict[int, str]
    reader: str
    fail_above: int | None = None
    missing: Collection[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Topics:
    """The topic names the plans read from (for dead letters' headers) and write to."""

    events: str
    enriched: str
    events_dlq: str
    kpi_campaign: str
    kpi_segment: str


def confluent_avro(df: DataFrame, writer: WriterSchema) -> Column:
    """``0x00 | schema id (4 bytes, big-endian) | to_avro body`` with the schema's field order."""
    fields = [f["name"] for f in json.loads(writer.schema)["fields"]]
    header = b"\x00" + writer.id.to_bytes(4, "big")
    return F.concat(F.lit(header), to_avro(F.struct(*[F.col(f) for f in fields]), writer.schema))


def enriched_or_dead(
    raw: DataFrame,
    events: EventSchemas,
    enriched: WriterSchema,
    demographics: DataFrame,
    rules: Rules,
    topics: Topics,
) -> DataFrame:
    """One pass over Kafka rows: each is decoded once and left-joined with demographics, then becomes
    an enriched record or a dead letter (original bytes, reason headers), naming its topic. A record
    breaking the events' business rules is a dead letter too (``rule violated: ...``)."""
    decoded = decode(raw, events.writers, events.reader, events.fail_above, events.missing, rules).select(
        "key", "value", "partition", "offset", "timestamp", "error", "event.*"
    )
    rows = (
        enrich(decoded, demographics)
        .withColumn("source_timestamp", F.col("timestamp"))
        .withColumn("produced_at", wall_clock())
    )
    ok = F.col("error").isNull()
    no_headers = F.array().cast("array<struct<key:string,value:binary>>")
    return rows.select(
        "key",
        F.when(ok, confluent_avro(rows, enriched)).otherwise(F.col("value")).alias("value"),
        F.when(ok, no_headers).otherwise(dlq_headers(topics.events)).alias("headers"),
        F.when(ok, F.lit(topics.enriched)).otherwise(F.lit(topics.events_dlq)).alias("topic"),
    )


def kpi_events(
    raw: DataFrame, events: EventSchemas, demographics: DataFrame, watermark: str, dedup: bool, rules: Rules
) -> DataFrame:
    """The source events the KPIs count: decoded by schema id (what cannot be decoded or breaks a
    business rule is left out: the enrichment dead-letters it, judged alike), each event id once with
    ``dedup`` (a duplicate within the watermark counts nowhere), watermarked, joined with the
    demographics."""
    valid = (
        decode(raw, events.writers, events.reader, events.fail_above, events.missing, rules)
        .where(F.col("error").isNull())
        .select(
            *(f"event.{c}" for c in KPI_EVENT_COLUMNS), event_key(F.col("event.event_id")).alias(EVENT_KEY)
        )
    )
    if dedup:
        once = distinct_events(valid, watermark).drop(EVENT_KEY)
    else:
        once = valid.drop(EVENT_KEY).withWatermark("event_time", watermark)
    return enrich(once, demographics)


def kpi_records(
    events: DataFrame, window: str, campaign: WriterSchema, segment: WriterSchema, topics: Topics
) -> DataFrame:
    """Both KPI families from one aggregation; each row names its topic, key and schema. Keys are the
    dimensions and the window start, so a later update of a window replaces its point downstream."""
    rows = kpi_rows(events, window)
    is_campaign = F.col("kind") == CAMPAIGN
    window_ms = F.unix_millis(F.col("window_start")).cast("string")
    return rows.select(
        F.when(is_campaign, F.concat_ws("|", "campaign_id", window_ms))
        .otherwise(F.concat_ws("|", *SEGMENT_DIMS, window_ms))
        .cast("binary")
        .alias("key"),
        F.when(is_campaign, confluent_avro(rows, campaign))
        .otherwise(confluent_avro(rows, segment))
        .alias("value"),
        F.when(is_campaign, F.lit(topics.kpi_campaign)).otherwise(F.lit(topics.kpi_segment)).alias("topic"),
    )
