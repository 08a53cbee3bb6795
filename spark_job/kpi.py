"""Windowed KPIs over enriched events, as plain DataFrame transformations.

The same functions serve the streaming job (after a watermark) and the unit tests (static frames).
Distinct users are exact (size of a set), not approximate: windows are small enough to hold them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

UNKNOWN = "unknown"


def _is(tag: str) -> Column:
    return F.col("tag") == tag


def _count(tag: str) -> Column:
    return F.count(F.when(_is(tag), True))


def _purchase_sum(column: str) -> Column:
    return F.coalesce(F.sum(F.when(_is("purchase"), F.col(column))), F.lit(0)).cast("long")


def campaign_kpis(enriched: DataFrame, window: str) -> DataFrame:
    """Per campaign and tumbling window: funnel counts, revenue, units, conversion, AOV, active users."""
    grouped = enriched.groupBy(F.window("event_time", window).alias("w"), "campaign_id").agg(
        _count("view").alias("views"),
        _count("click").alias("clicks"),
        _count("add_to_cart").alias("add_to_carts"),
        _count("purchase").alias("purchases"),
        _purchase_sum("total_amount_cents").alias("revenue_cents"),
        _purchase_sum("units").alias("units"),
        F.size(F.collect_set("user_id")).cast("long").alias("active_users"),
    )
    return grouped.select(
        "campaign_id",
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
    )


def segment_kpis(enriched: DataFrame, window: str) -> DataFrame:
    """Per (gender, age band, state) and tumbling window: revenue, purchases, distinct users."""
    dims = [F.coalesce(F.col(c), F.lit(UNKNOWN)).alias(c) for c in ("gender", "age_band", "state")]
    grouped = enriched.groupBy(F.window("event_time", window).alias("w"), *dims).agg(
        _purchase_sum("total_amount_cents").alias("revenue_cents"),
        _count("purchase").alias("purchases"),
        F.size(F.collect_set("user_id")).cast("long").alias("users"),
    )
    return grouped.select(
        "gender",
        "age_band",
        "state",
        F.col("w.start").alias("window_start"),
        F.col("w.end").alias("window_end"),
        "revenue_cents",
        "purchases",
        "users",
    )
