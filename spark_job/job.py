"""The streaming job: three queries on one SparkSession.

1. ``enrich`` (stateless, ``foreachBatch``): raw events -> decode by schema id (writer schemas are
   re-read from the registry each batch, so a newly registered version needs no restart) -> DLQ for
   what cannot be decoded -> join with demographics (re-read on an interval) -> enriched Avro topic.
2. ``kpi_campaign`` and ``kpi_segment`` (stateful): the enriched topic -> watermark -> de-duplication
   by event_id (the Kafka sink is at-least-once) -> tumbling-window aggregates -> KPI Avro topics in
   update mode, keyed by (dimensions, window start) so each update of a window replaces its point.

Each query checkpoints under the checkpoint dir; a restart resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.avro.functions import from_avro, to_avro
from pyspark.sql.streaming import StreamingQuery

from schemas.catalog import EVENT_SCHEMA_FILES, load_schema
from scripts.settings import Settings
from spark_job.decode import decode, dlq_headers
from spark_job.enrich import DemographicsTable, enrich
from spark_job.kpi import campaign_kpis, segment_kpis
from spark_job.registry import SchemaCache, registered_id

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
        self.writers = SchemaCache(settings.schema_registry_url, f"{settings.topic_events}-value")
        self.enriched_id, self.enriched_schema = registered_id(
            settings.schema_registry_url, f"{settings.topic_enriched}-value", "enriched_event.avsc"
        )
        self.campaign_id, self.campaign_schema = registered_id(
            settings.schema_registry_url, f"{settings.topic_kpi_campaign}-value", "kpi_campaign.avsc"
        )
        self.segment_id, self.segment_schema = registered_id(
            settings.schema_registry_url, f"{settings.topic_kpi_segment}-value", "kpi_segment.avsc"
        )
        self.demographics = DemographicsTable(spark, settings)

    # --- stage 1 ---------------------------------------------------------------------------------
    def _read(self, topic: str, starting_offsets: str) -> DataFrame:
        reader = (
            self.spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap_servers)
            .option("subscribe", topic)
            .option("startingOffsets", starting_offsets)
            .option("failOnDataLoss", "false")
        )
        if self.options.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", str(self.options.max_offsets_per_trigger))
        return reader.load()

    def enrich_batch(self, batch: DataFrame, batch_id: int) -> None:
        """One micro-batch of stage 1 (called by foreachBatch): one pass over the batch, one write.

        Every row is decoded once and left-joined with demographics; then each row becomes either
        an enriched record or a dead letter (original bytes, reason headers), naming its own topic.
        """
        s = self.settings
        decoded = decode(batch, self.writers.refresh(), READER_SCHEMA).select(
            "key", "value", "partition", "offset", "timestamp", "error", "event.*"
        )
        rows = (
            enrich(decoded, self.demographics.current())
            .withColumn("source_timestamp", F.col("timestamp"))
            .withColumn("produced_at", F.current_timestamp())
        )
        ok = F.col("error").isNull()
        no_headers = F.array().cast("array<struct<key:string,value:binary>>")
        (
            rows.select(
                "key",
                F.when(ok, confluent_avro(rows, self.enriched_schema, self.enriched_id))
                .otherwise(F.col("value"))
                .alias("value"),
                F.when(ok, no_headers).otherwise(dlq_headers(s.topic_events)).alias("headers"),
                F.when(ok, F.lit(s.topic_enriched)).otherwise(F.lit(s.topic_events_dlq)).alias("topic"),
            )
            .write.format("kafka")
            .option("kafka.bootstrap.servers", s.kafka_bootstrap_servers)
            .option("includeHeaders", "true")
            .option("kafka.linger.ms", "5")
            .option("kafka.compression.type", "lz4")
            .save()
        )

    def start_enrichment(self) -> StreamingQuery:
        return (
            self._read(self.settings.topic_events, self.options.starting_offsets)
            .writeStream.queryName("enrich")
            .foreachBatch(self.enrich_batch)
            .option("checkpointLocation", str(self.options.checkpoint_dir / "enrich"))
            .trigger(processingTime=f"{self.options.trigger_s} seconds")
            .start()
        )

    # --- stage 2 ---------------------------------------------------------------------------------
    def enriched_stream(self) -> DataFrame:
        """The enriched topic decoded (our own writer schema), watermarked and de-duplicated."""
        body = F.expr("substring(value, 6, length(value) - 5)")
        return (
            self._read(self.settings.topic_enriched, "earliest")
            .select(from_avro(body, self.enriched_schema, {"mode": "PERMISSIVE"}).alias("e"))
            .select("e.*")
            .where(F.col("event_id").isNotNull())
            .withWatermark("event_time", self.options.watermark)
            .dropDuplicatesWithinWatermark(["event_id"])
        )

    def _start_kpi(
        self, name: str, kpis: DataFrame, key: Column, schema: str, schema_id: int, topic: str
    ) -> StreamingQuery:
        out = kpis.select(
            key.cast("binary").alias("key"), confluent_avro(kpis, schema, schema_id).alias("value")
        )
        return (
            out.writeStream.queryName(name)
            .format("kafka")
            .outputMode("update")
            .option("kafka.bootstrap.servers", self.settings.kafka_bootstrap_servers)
            .option("topic", topic)
            .option("checkpointLocation", str(self.options.checkpoint_dir / name))
            .trigger(processingTime=f"{self.options.kpi_trigger_s} seconds")
            .start()
        )

    def start_kpi_campaign(self) -> StreamingQuery:
        window_ms = F.unix_millis(F.col("window_start")).cast("string")
        return self._start_kpi(
            "kpi_campaign",
            campaign_kpis(self.enriched_stream(), self.options.window),
            F.concat_ws("|", "campaign_id", window_ms),
            self.campaign_schema,
            self.campaign_id,
            self.settings.topic_kpi_campaign,
        )

    def start_kpi_segment(self) -> StreamingQuery:
        window_ms = F.unix_millis(F.col("window_start")).cast("string")
        return self._start_kpi(
            "kpi_segment",
            segment_kpis(self.enriched_stream(), self.options.window),
            F.concat_ws("|", "gender", "age_band", "state", window_ms),
            self.segment_schema,
            self.segment_id,
            self.settings.topic_kpi_segment,
        )

    def starters(self) -> dict[str, Callable[[], StreamingQuery]]:
        """Query name -> how to (re)start it; the runner restarts a failed query from its checkpoint."""
        return {
            "enrich": self.start_enrichment,
            "kpi_campaign": self.start_kpi_campaign,
            "kpi_segment": self.start_kpi_segment,
        }
