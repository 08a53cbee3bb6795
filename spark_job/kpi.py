"""Windowed KPIs over events joined with demographics, as plain DataFrame transformations.

Both KPI families come from one aggregation: each event is counted once per campaign and once per
demographic segment (``explode`` of two keys), grouped by (window, kind, key). The streaming job
runs it as one query: the events are decoded and joined once, not once per family. Each row also
carries the newest event time it counts (``last_event_time``: how fresh the emission is).
The same functions serve the job (after a watermark) and the unit tests (static frames). Distinct
users are exact (size of a set), not approximate: windows are small enough to hold them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from shopstream.contracts import KPI_SCHEMA_FILES, Topic, field_names, kpi_segment

UNKNOWN = "unknown"
CAMPAIGN, SEGMENT = "campaign", "segment"
SEGMENT_DIMS = kpi_segment().tags  # gender, age band, state
EVENT_KEY = "event_key"
_UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_NOT_A_UUID = b"\x00" * 17  # before any other id's UTF-8 bytes: such a key is never 16 bytes long


def event_key(event_id: Column) -> Column:
    """The key that identifies an event for de-duplication: a UUID (the contract's ids, in any case)
    as its 16 bytes instead of a 36-character string; any other id as 17 zero bytes and its UTF-8
    bytes, so that no two ids share a key."""
    as_uuid = F.unhex(F.regexp_replace(event_id, "-", ""))
    other = F.concat(F.lit(_NOT_A_UUID), F.encode(event_id, "UTF-8"))
    return F.when(event_id.rlike(_UUID), as_uuid).otherwise(other)


def distinct_events(events: DataFrame, watermark: str) -> DataFrame:
    """Each event once: a row whose ``event_key`` was seen is dropped while its first occurrence is
    within the watermark (Spark keeps the key until the watermark passes its event time plus
    ``watermark``); a row older than the watermark is dropped as late, like every late event."""
    return events.withWatermark("event_time", watermark).dropDuplicatesWithinWatermark([EVENT_KEY])


def _is(tag: str) -> Column:
    return F.col("tag") == tag


def _count(tag: str) -> Column:
    return F.count(F.when(_is(tag), True))


def _purchase_sum(column: str) -> Column:
    return F.coalesce(F.sum(F.when(_is("purchase"), F.col(column))), F.lit(0)).cast("long")


def kpi_rows(enriched: DataFrame, window: str) -> DataFrame:
    """One row per (tumbling window, kind, key): ``kind`` is "campaign" (``campaign_id`` set) or
    "segment" (gender, age band, state set; unknown demographics as "unknown"); every row carries
    every KPI column, and each family's schema picks its own."""
    present = set(enriched.columns)  # events never enriched have no demographic columns: unknown
    segment = [
        F.coalesce(F.col(c) if c in present else F.lit(None), F.lit(UNKNOWN)).alias(c) for c in SEGMENT_DIMS
    ]
    keys = F.array(
        F.struct(
            F.lit(CAMPAIGN).alias("kind"),
            F.col("campaign_id"),
            *[F.lit(None).cast("string").alias(c) for c in SEGMENT_DIMS],
        ),
        F.struct(F.lit(SEGMENT).alias("kind"), F.lit(None).cast("string").alias("campaign_id"), *segment),
    )
    exploded = enriched.select(
        "event_time", "tag", "user_id", "total_amount_cents", "units", F.explode(keys).alias("k")
    )
    grouped = exploded.groupBy(
        F.window("event_time", window).alias("w"),
        *[F.col(f"k.{c}").alias(c) for c in ("kind", "campaign_id", *SEGMENT_DIMS)],
    ).agg(
        _count("view").alias("views"),
        _count("click").alias("clicks"),
        _count("add_to_cart").alias("add_to_carts"),
        _count("purchase").alias("purchases"),
        _purchase_sum("total_amount_cents").alias("revenue_cents"),
        _purchase_sum("units").alias("units"),
        F.size(F.collect_set("user_id")).cast("long").alias("active_users"),
        F.max("event_time").alias("last_event_time"),
    )
    return grouped.select(
        "kind",
        "campaign_id",
        *SEGMENT_DIMS,
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "views",
        "clicks",
        "add_to_carts",
        "purchases",
        "revenue_cents",
        "units",
        F.when(F.col("clicks") > 0, F.col("purchases") / F.col("clicks"))
        .otherwise(0.0)
        .alias("conversion_rate"),
        F.when(F.col("purchases") > 0, F.col("revenue_cents") / F.col("purchases"))
        .otherwise(0.0)
        .alias("avg_order_value_cents"),
        "active_users",
        F.col("active_users").alias("users"),
        "last_event_time",
    )


# what each family's registered schema carries, in its order
CAMPAIGN_COLUMNS = field_names(KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN])
SEGMENT_COLUMNS = field_names(KPI_SCHEMA_FILES[Topic.KPI_SEGMENT])


def campaign_kpis(enriched: DataFrame, window: str) -> DataFrame:
    """Per campaign and tumbling window: funnel counts, revenue, units, conversion, AOV, active users."""
    return kpi_rows(enriched, window).where(F.col("kind") == CAMPAIGN).select(*CAMPAIGN_COLUMNS)


def segment_kpis(enriched: DataFrame, window: str) -> DataFrame:
    """Per (gender, age band, state) and tumbling window: revenue, purchases, distinct users."""
    return kpi_rows(enriched, window).where(F.col("kind") == SEGMENT).select(*SEGMENT_COLUMNS)
