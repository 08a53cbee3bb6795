"""The streaming job: two queries on one SparkSession.

1. ``enrich`` (stateless): raw events -> decode by schema id -> DLQ for what cannot be decoded or
   breaks the events' business rules (``shopstream/rules.py``) -> join with demographics (re-read
   on an interval) -> enriched Avro topic. By default in Spark's Real-time Mode (records flow
   through long-running tasks: milliseconds, not a batch, of latency); a schema version registered
   while it runs restarts the query, which then decodes it. In microbatch mode (``foreachBatch``)
   schemas and demographics are refreshed between batches.
2. ``kpis`` (stateful): the raw events again -> decode by schema id and leave out what the
   enrichment dead-letters (the same rules) -> watermark -> each event id once within the watermark
   (a duplicate of a source's at-least-once delivery counts nowhere) -> join with demographics ->
   tumbling-window aggregates per campaign and per segment, in one aggregation -> the two KPI Avro
   topics in update mode, keyed by (dimensions, window start) so each update of a window replaces
   its point. It reads the source topic, not the enriched one: Spark's Kafka source and state
   checkpoint count each source offset once, while the enriched topic is written at least once (a
   replayed real-time batch repeats records).

The plans themselves are ``plans.py`` (DataFrames and writer schemas in, DataFrames out); this module
wires them to Kafka, the registry and MariaDB. Each query checkpoints under the checkpoint dir; a
restart resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
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
from spark_job import plans
from spark_job.enrich import DemographicsTable
from spark_job.failures import failure_of
from spark_job.plans import EventSchemas, Topics
from spark_job.writer_schemas import SchemaCache, registered

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


class StreamingJob:
    def __init__(self, spark: SparkSession, settings: Settings, options: JobOptions) -> None:
        self.spark = spark
        self.settings = settings
        self.options = options
        registry = registry_client(settings.registry, "reader")  # the job only reads the registry
        self.writers = SchemaCache(registry, subject(settings.topics.events))
        self.enriched = registered(registry, subject(settings.topics.enriched), ENRICHED_SCHEMA_FILE)
        kpi_files = KPI_SCHEMA_FILES
        self.campaign = registered(
            registry, subject(settings.topics.kpi_campaign), kpi_files[Topic.KPI_CAMPAIGN]
        )
        self.segment = registered(
            registry, subject(settings.topics.kpi_segment), kpi_files[Topic.KPI_SEGMENT]
        )
        self.topics = Topics(
            events=settings.topics.events,
            enriched=settings.topics.enriched,
            events_dlq=settings.topics.events_dlq,
            kpi_campaign=settings.topics.kpi_campaign,
            kpi_segment=settings.topics.kpi_segment,
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
        security = java_security_config(self.settings.kafka, "spark")
        return {
            "kafka.bootstrap.servers": self.settings.kafka.bootstrap_servers,
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

    def _schemas(self, writers: dict[int, str], fixed: bool) -> EventSchemas:
        """The event writers a plan decodes with; ``fixed``: its schemas are fixed at (re)start, so an
        unseen id above the newest stops it (the runner restarts it with the new version)."""
        newest = self.writers.newest_id if fixed else None
        return EventSchemas(writers, READER_SCHEMA, newest, frozenset(self.writers.missing))

    def enriched_or_dead(self, raw: DataFrame, writers: dict[int, str], demographics: DataFrame) -> DataFrame:
        """The enrichment plan (``plans.enriched_or_dead``) with this job's schemas and topics; in
        realtime mode its writer schemas are fixed."""
        events = self._schemas(writers, fixed=self.realtime)
        return plans.enriched_or_dead(raw, events, self.enriched, demographics, self.rules, self.topics)

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
            self._read(self.settings.topics.events, self.options.starting_offsets)
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
        raw = self._read(self.settings.topics.events, self.options.starting_offsets)
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
    def start_kpis(self) -> StreamingQuery:
        """Both KPI families in one stateful query (``plans.kpi_events``, ``plans.kpi_records``).

        Writer schemas are those known at (re)start: an id above them fails the query, and the runner
        restarts it with the new version, as in Real-time Mode. The demographics are a cached copy of
        the table that the runner renews every ``spark_demographics_refresh_s``. A batch reads at most
        ``spark_kpi_max_records_per_batch`` records: after a pause the backlog is worked off in steps
        that each commit."""
        s, options = self.settings, self.options
        raw = self._read(s.topics.events, "earliest", s.spark.kpi_max_records_per_batch)
        writers = self.writers.refresh(force=True)
        self._planned["kpis"] = self.writers.newest_id
        events = plans.kpi_events(
            raw, self._schemas(writers, fixed=True), self.demographics.for_stream(), options.watermark,
            s.spark.kpi_dedup, self.rules,
        )  # fmt: skip
        out = plans.kpi_records(events, options.window, self.campaign, self.segment, self.topics)
        return (
            out.writeStream.queryName("kpis")
            .format("kafka")
            .outputMode("update")
            .options(**self._kafka())
            .option("checkpointLocation", str(options.checkpoint_dir / "kpis"))
            .trigger(processingTime=f"{options.kpi_trigger_s} seconds")
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
