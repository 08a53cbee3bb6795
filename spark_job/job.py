"""The streaming job: two queries on one SparkSession.

1. ``enrich`` (stateless): raw events -> decode by schema id -> DLQ for what cannot be decoded or
   breaks the events' business rules (``shopstream/rules.py``) -> join with demographics (re-read
   on an interval) -> enriched Avro topic. By default in Spark's Real-time Mode (records flow
   through long-running tasks: milliseconds, not a batch, of latency); a schema version registered
   while it runs restarts the query, which then decodes it. In microbatch mode (``foreachBatch``)
   schemas and demographics are refreshed between batches.
2. ``kpis`` (stateful): the raw events again -> decode by schema id and leave out what the
   enrichment dead-letters (the same rules) -> join with demographics -> watermark -> tumbling-window
   aggregates per campaign and per segment, in one aggregation -> the two KPI Avro topics in
   update mode, keyed by (dimensions, window start) so each update of a window replaces its point.
   It reads the source topic, not the enriched one: Spark's Kafka source and state checkpoint count
   each source offset exactly once, while the enriched topic is written at least once (a replayed
   real-time batch repeats records) and would need a de-duplication state of every event id within
   the watermark — the cost that kept this query behind at 20k events/s.

Each query checkpoints under the checkpoint dir; a restart resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import to_avro
from pyspark.sql.streaming import StreamingQuery

from shopstream.clients.kafka import java_security_config
from shopstream.clients.registry import registry_client
from shopstream.contracts import (
    ENRICHED_SCHEMA_FILE,
    EVENT_SCHEMA_FILES,
    KPI_SCHEMA_FILES,
    Topic,
    load_schema,
    subject,
)
from shopstream.errors import RegistryError
from shopstream.jobstatus import Failure
from shopstream.rules import Rules
from shopstream.settings import Settings
from spark_job.decode import decode, dlq_headers
from spark_job.enrich import DemographicsTable, enrich
from spark_job.failures import failure_of
from spark_job.kpi import CAMPAIGN, EVENT_KEY, SEGMENT_DIMS, distinct_events, event_key, kpi_rows
from spark_job.rule_columns import wall_clock
from spark_job.writer_schemas import SchemaCache, registered_id

READER_SCHEMA = load_schema(EVENT_SCHEMA_FILES[max(EVENT_SCHEMA_FILES)])


@dataclass(frozen=True)
class JobOptions:
    checkpoint_dir: Path
    starting_offsets: str = "earliest"
    trigger_s: float = 1.0
    kpi_trigger_s: float = 5.0
    window: str = "1 minute"
    watermark: str = "2 minutes"
    max_offsets_per_trigger: int | None = None
    realtime: bool = True
    realtime_batch_s: float = 60.0


def confluent_avro(df: DataFrame, schema_json: str, schema_id: int) -> Column:
    """``0x00 | schema id (4 bytes, big-endian) | to_avro body`` with the schema's field order."""
    fields = [f["name"] for f in json.loads(schema_json)["fields"]]
    header = b"\x00" + schema_id.to_bytes(4, "big")
    return F.concat(F.lit(header), to_avro(F.struct(*[F.col(f) for f in fields]), schema_json))


class StreamingJob:
    def __init__(self, spark: SparkSession, settings: Settings, options: JobOptions) -> None:
        self.spark = spark
        self.settings = settings
        self.options = options
        registry = registry_client(settings, "reader")  # the job only reads the registry
        self.writers = SchemaCache(registry, subject(settings.topic_events))
        self.enriched_id, self.enriched_schema = registered_id(
            registry, subject(settings.topic_enriched), ENRICHED_SCHEMA_FILE
        )
        self.campaign_id, self.campaign_schema = registered_id(
            registry, subject(settings.topic_kpi_campaign), KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN]
        )
        self.segment_id, self.segment_schema = registered_id(
            registry, subject(settings.topic_kpi_segment), KPI_SCHEMA_FILES[Topic.KPI_SEGMENT]
        )
        self.demographics = DemographicsTable(spark, settings)
        self.realtime = options.realtime
        self.rules = Rules.of(settings)
        # query -> the newest writer schema id its plan knows, for the queries whose schemas are fixed
        self._planned: dict[str, int] = {}

    # --- stage 1 ---------------------------------------------------------------------------------
    def _kafka(self) -> dict[str, str]:
        """The Kafka client options of every source and sink: the bootstrap servers and the Spark
        role's security (``kafka.`` + Kafka's Java keys; the JAAS line is built here, at run time, from
        the settings: it is in no command line, and ``spark_session`` redacts it from plans and logs)."""
        security = java_security_config(self.settings, "spark")
        return {
            "kafka.bootstrap.servers": self.settings.kafka_bootstrap_servers,
            **{f"kafka.{key}": value for key, value in security.items()},
        }

    def _read(self, topic: str, starting_offsets: str, max_per_batch: int | None = None) -> DataFrame:
        reader = (
            self.spark.readStream.format("kafka")
            .options(**self._kafka())
            .option("subscribe", topic)
            .option("startingOffsets", starting_offsets)
            .option("failOnDataLoss", "false")
        )
        max_per_batch = max_per_batch or self.options.max_offsets_per_trigger
        if max_per_batch:
            reader = reader.option("maxOffsetsPerTrigger", str(max_per_batch))
        return reader.load()

    def enriched_or_dead(self, raw: DataFrame, writers: dict[int, str], demographics: DataFrame) -> DataFrame:
        """One pass over Kafka rows: each is decoded once and left-joined with demographics, then
        becomes an enriched record or a dead letter (original bytes, reason headers), naming its topic.
        A record breaking the events' business rules is a dead letter too (``rule violated: ...``).

        In realtime mode an id above every id the job knows fails the query instead of going to the
        DLQ: it is most likely a version registered since the start, and the restart loads it.
        """
        s = self.settings
        decoded = decode(
            raw, writers, READER_SCHEMA, self.writers.newest_id if self.realtime else None,
            self.writers.missing, self.rules,
        ).select("key", "value", "partition", "offset", "timestamp", "error", "event.*")  # fmt: skip
        rows = (
            enrich(decoded, demographics)
            .withColumn("source_timestamp", F.col("timestamp"))
            .withColumn("produced_at", wall_clock())
        )
        ok = F.col("error").isNull()
        no_headers = F.array().cast("array<struct<key:string,value:binary>>")
        return rows.select(
            "key",
            F.when(ok, confluent_avro(rows, self.enriched_schema, self.enriched_id))
            .otherwise(F.col("value"))
            .alias("value"),
            F.when(ok, no_headers).otherwise(dlq_headers(s.topic_events)).alias("headers"),
            F.when(ok, F.lit(s.topic_enriched)).otherwise(F.lit(s.topic_events_dlq)).alias("topic"),
        )

    def _kafka_options(self) -> dict[str, str]:
        return {
            **self._kafka(),
            "includeHeaders": "true",
            "kafka.linger.ms": "5",
            "kafka.compression.type": "lz4",
        }

    def enrich_batch(self, batch: DataFrame, batch_id: int) -> None:
        """One micro-batch of stage 1 (microbatch mode, via foreachBatch): writer schemas and
        demographics are refreshed between batches."""
        out = self.enriched_or_dead(batch, self.writers.refresh(), self.demographics.current())
        out.write.format("kafka").options(**self._kafka_options()).save()

    def start_enrichment(self) -> StreamingQuery:
        return self._start_realtime() if self.realtime else self._start_microbatch()

    def _start_microbatch(self) -> StreamingQuery:
        return (
            self._read(self.settings.topic_events, self.options.starting_offsets)
            .writeStream.queryName("enrich")
            .foreachBatch(self.enrich_batch)
            .option("checkpointLocation", str(self.options.checkpoint_dir / "enrich"))
            .trigger(processingTime=f"{self.options.trigger_s} seconds")
            .start()
        )

    def _start_realtime(self) -> StreamingQuery:
        """Spark's Real-time Mode: one long-running task per partition, records flow through one by
        one. Each "batch" of ``realtime_batch_s`` is a checkpoint, planned with the demographics the
        runner last cached (renewed every refresh interval, kept while MariaDB is away); writer
        schemas are those known at (re)start."""
        raw = self._read(self.settings.topic_events, self.options.starting_offsets)
        writers = self.writers.refresh(force=True)
        self._planned["enrich"] = self.writers.newest_id
        out = self.enriched_or_dead(raw, writers, self.demographics.for_stream())
        writer = (
            out.writeStream.queryName("enrich")
            .format("kafka")
            .outputMode("update")
            .options(**self._kafka_options())
            .option("checkpointLocation", str(self.options.checkpoint_dir / "enrich"))
        )
        # pyspark 4.1 has no Python spelling of the trigger yet (the JVM API has it since 4.1.0)
        jvm = self.spark.sparkContext._jvm
        trigger = jvm.org.apache.spark.sql.streaming.Trigger.RealTime(  # type: ignore[union-attr]
            int(self.options.realtime_batch_s * 1000)
        )
        writer._jwrite = writer._jwrite.trigger(trigger)
        return writer.start()

    # --- stage 2 ---------------------------------------------------------------------------------
    def kpi_events(self) -> DataFrame:
        """The source events for the KPIs: decoded by schema id (what cannot be decoded or breaks a
        business rule is left out: the enrichment dead-letters it, judged alike), each event id once
        (``spark_kpi_dedup``: a duplicate within the watermark counts nowhere), joined with the
        demographics, watermarked.

        Writer schemas are those known at (re)start: an id above them fails the query, and the runner
        restarts it with the new version, as in Real-time Mode. The demographics are a cached copy of
        the table that the runner renews every ``spark_demographics_refresh_s``."""
        # bounded batches: after a pause the backlog is worked off in steps that each commit
        s = self.settings
        raw = self._read(s.topic_events, "earliest", s.spark_kpi_max_records_per_batch)
        writers = self.writers.refresh(force=True)
        self._planned["kpis"] = self.writers.newest_id
        used = ("event_time", "tag", "user_id", "campaign_id", "total_amount_cents", "units")
        events = (
            decode(raw, writers, READER_SCHEMA, self.writers.newest_id, self.writers.missing, self.rules)
            .where(F.col("error").isNull())
            .select(*(f"event.{c}" for c in used), event_key(F.col("event.event_id")).alias(EVENT_KEY))
        )
        if s.spark_kpi_dedup:
            events = distinct_events(events, self.options.watermark).drop(EVENT_KEY)
        else:
            events = events.drop(EVENT_KEY).withWatermark("event_time", self.options.watermark)
        return enrich(events, self.demographics.for_stream())

    def start_kpis(self) -> StreamingQuery:
        """Both KPI families in one stateful query; each row names its topic, key and schema."""
        s = self.settings
        rows = kpi_rows(self.kpi_events(), self.options.window)
        campaign = F.col("kind") == CAMPAIGN
        window_ms = F.unix_millis(F.col("window_start")).cast("string")
        out = rows.select(
            F.when(campaign, F.concat_ws("|", "campaign_id", window_ms))
            .otherwise(F.concat_ws("|", *SEGMENT_DIMS, window_ms))
            .cast("binary")
            .alias("key"),
            F.when(campaign, confluent_avro(rows, self.campaign_schema, self.campaign_id))
            .otherwise(confluent_avro(rows, self.segment_schema, self.segment_id))
            .alias("value"),
            F.when(campaign, F.lit(s.topic_kpi_campaign))
            .otherwise(F.lit(s.topic_kpi_segment))
            .alias("topic"),
        )
        return (
            out.writeStream.queryName("kpis")
            .format("kafka")
            .outputMode("update")
            .options(**self._kafka())
            .option("checkpointLocation", str(self.options.checkpoint_dir / "kpis"))
            .trigger(processingTime=f"{self.options.kpi_trigger_s} seconds")
            .start()
        )

    def refresh(self) -> str | None:
        """Renew the queries' cached demographics when they are due (a reason when it cannot)."""
        return self.demographics.refresh_stream()

    def outdated(self) -> list[str]:
        """The queries planned with fixed writer schemas before the subject's newest version (the
        registry is asked at most every few seconds): restarted now, they decode the new version's
        records when they come instead of stopping on the first. While the registry does not answer,
        none: the queries go on with the versions they know."""
        try:
            self.writers.refresh()
        except RegistryError:
            return []
        newest = self.writers.newest_id
        return [name for name, known in self._planned.items() if newest > known]

    @staticmethod
    def failure_of(exception: Any) -> Failure:
        """The kind of a query's failure, from Spark's error conditions (spark_job/failures.py)."""
        return failure_of(exception)

    def checkpoint(self, query: str) -> Path:
        return self.options.checkpoint_dir / query

    def load_schema(self, schema_id: int) -> bool:
        """A query stopped on a schema id it had not loaded: load it (True), or mark it missing so
        that its records are dead-lettered (False)."""
        self.writers.resolve(schema_id)
        return schema_id in self.writers.by_id

    def starters(self) -> dict[str, Callable[[], StreamingQuery]]:
        """Query name -> how to (re)start it; the runner restarts a failed query from its checkpoint."""
        return {
            "enrich": self.start_enrichment,
            "kpis": self.start_kpis,
        }
