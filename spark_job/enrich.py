"""Enrichment: events joined with customer demographics (a broadcast stream-static join, no state).

Demographics are read from MariaDB over JDBC, the table being the source of truth, and re-read every
``spark_demographics_refresh_s``: a changed row shows in events enriched after the next refresh,
without restarting the job. (The CDC topic carries the same rows for other consumers.)
"""

from __future__ import annotations

import time

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from shopstream.clients import mariadb
from shopstream.contracts import age_bands
from shopstream.errors import DatabaseError
from shopstream.settings import Settings


def age_band(age: Column) -> Column:
    """The contract's age bands (enriched_event.avsc); null outside them."""
    bands = age_bands()
    oldest_low, oldest_label = bands.oldest
    band = F.when(age >= oldest_low, F.lit(oldest_label))
    for low, high, label in bands.bands:
        band = band.when(age.between(low, high), F.lit(label))
    return band.otherwise(F.lit(None))


def with_age_band(demographics: DataFrame) -> DataFrame:
    return demographics.withColumn("age_band", age_band(F.col("age")))


def enrich(events: DataFrame, demographics: DataFrame) -> DataFrame:
    """Left join on user_id = id: unknown users keep their event with null enrichment fields."""
    dims = F.broadcast(
        with_age_band(demographics).select(
            F.col("id").cast("long").alias("_id"),
            F.col("age").cast("int").alias("age"),
            "age_band",
            "gender",
            "state",
            "country",
        )
    )
    return events.join(dims, events["user_id"] == dims["_id"], "left").drop("_id")


class DemographicsTable:
    """The demographics table as a cached DataFrame, re-read when older than the refresh interval."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.loaded_at = 0.0
        self._df: DataFrame | None = None
        self._stream: DataFrame | None = None
        self._stream_loaded_at = 0.0

    def read(self) -> DataFrame:
        s = self.settings
        return (
            self.spark.read.format("jdbc")
            # the mysql scheme makes Spark use its MySQL dialect (backtick quoting); MariaDB's driver
            # accepts it with permitMysqlScheme
            .option("url", f"jdbc:mysql://{s.mysql.host}:{s.mysql.port}/{s.mysql.database}?permitMysqlScheme")
            .option("driver", "org.mariadb.jdbc.Driver")
            .option("dbtable", "demographics")
            .option("user", s.mysql.user)
            .option("password", s.mysql.password.get_secret_value())
            .option("fetchsize", "10000")
            .load()
        )

    def for_stream(self) -> DataFrame:
        """The table for a micro-batch stream-static join: one plan, served from a cache. Spark
        looks the cache up when it plans each micro-batch, so :meth:`refresh_stream` renews the data
        under a running query (a batch planned mid-renewal reads the table itself: same rows)."""
        if self._stream is None:
            self._stream = self.read()
            self._stream.cache().count()
            self._stream_loaded_at = time.monotonic()
        return self._stream

    def refresh_stream(self) -> str | None:
        """Re-read the cached table of :meth:`for_stream` when older than the refresh interval. While
        MariaDB does not answer the queries go on with the rows read last (returned: why)."""
        due = time.monotonic() - self._stream_loaded_at >= self.settings.spark.demographics_refresh_s
        if self._stream is None or not due:
            return None
        try:
            mariadb.check_reachable(self.settings.mysql)
        except DatabaseError as exc:
            self._stream_loaded_at = time.monotonic()  # try again after the next interval
            return f"{exc.message}: keeping the demographics read before"
        self._stream.unpersist(blocking=True)
        self._stream.cache().count()
        self._stream_loaded_at = time.monotonic()
        return None

    def current(self) -> DataFrame:
        """For micro-batch enrichment (between batches): re-read when due; while MariaDB does not
        answer, the rows read last."""
        due = time.monotonic() - self.loaded_at >= self.settings.spark.demographics_refresh_s
        if self._df is not None and due:
            try:
                mariadb.check_reachable(self.settings.mysql)
            except DatabaseError:
                self.loaded_at = time.monotonic()  # try again after the next interval
                due = False
        if self._df is None or due:
            fresh = self.read().cache()
            fresh.count()  # materialise now, so a batch never waits on a half-read table
            if self._df is not None:
                self._df.unpersist()
            self._df, self.loaded_at = fresh, time.monotonic()
        return self._df
