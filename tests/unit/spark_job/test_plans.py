"""The job's plans in-process: static frames of Kafka-shaped rows in, the rows the job would write
out (topic, key, Avro value, headers); no registry, no Kafka, no MariaDB. Expected KPIs come from the
tests' own computation (tests/oracle.py)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
from pyspark.sql import DataFrame, Row, SparkSession

from producer.avro_codec import compile_encoder
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.contracts import (
    ENRICHED_SCHEMA_FILE,
    EVENT_SCHEMA_FILES,
    KPI_SCHEMA_FILES,
    Topic,
    load_schema,
)
from shopstream.rules import Rules
from shopstream.settings import Settings
from spark_job.plans import EventSchemas, Topics, WriterSchema, enriched_or_dead, kpi_events, kpi_records
from tests import oracle

V1, V2 = load_schema(EVENT_SCHEMA_FILES[1]), load_schema(EVENT_SCHEMA_FILES[2])
EVENTS = EventSchemas({3: V1, 7: V2}, reader=V2)
ENRICHED = WriterSchema(11, load_schema(ENRICHED_SCHEMA_FILE))
CAMPAIGN = WriterSchema(12, load_schema(KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN]))
SEGMENT = WriterSchema(13, load_schema(KPI_SCHEMA_FILES[Topic.KPI_SEGMENT]))
TOPICS = Topics(
    "shop.events", "shop.events.enriched", "shop.events.dlq", "shop.kpi.campaign", "shop.kpi.segment"
)
PEOPLE = [(1, 30, "F", "CA", "US"), (2, 70, "M", "NSW", "AU"), (3, 19, "F", "TX", "US")]
START_MS = 1_796_000_000_000  # 2026-11-30


def _kafka_rows(spark: SparkSession, values: list[bytes], timestamps_ms: list[int]) -> DataFrame:
    rows = [
        (b"k", value, "shop.events", i % 3, i, datetime.fromtimestamp(ts / 1000, tz=UTC))
        for i, (value, ts) in enumerate(zip(values, timestamps_ms, strict=True))
    ]
    return spark.createDataFrame(
        rows, "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
    )


def _demographics(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(PEOPLE, "id long, age int, gender string, state string, country string")


def _decoded(value: bytes, writer: WriterSchema) -> dict[str, Any]:
    assert value[:5] == b"\x00" + writer.id.to_bytes(4, "big")
    schema = fastavro.parse_schema(json.loads(writer.schema))
    record = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
    assert isinstance(record, dict)
    return {k: int(v.timestamp() * 1000) if isinstance(v, datetime) else v for k, v in record.items()}


def _events(seed: int, count: int, users: int = 3) -> list[dict[str, Any]]:
    config = TrafficConfig(seed=seed, users=users, start_ms=START_MS, events_per_second=50)
    return TrafficModel(config).take(count)


def test_enrichment_writes_each_valid_event_enriched_and_each_bad_record_to_the_dlq(
    spark: SparkSession,
) -> None:
    events = _events(1, 20, users=4)  # user 4 has no demographics
    values = [compile_encoder(V2, 7)(e) for e in events] + [b"\x01junk", b"\x00\x00\x00\x00\x63abc"]
    stamps = [e["event_time"] + 5 for e in events] + [START_MS, START_MS]
    raw = _kafka_rows(spark, values, stamps)
    rules = Rules.of(Settings())
    out = enriched_or_dead(raw, EVENTS, ENRICHED, _demographics(spark), rules, TOPICS).collect()

    enriched = [_decoded(bytes(r["value"]), ENRICHED) for r in out if r["topic"] == TOPICS.enriched]
    assert sorted(e["event_id"] for e in enriched) == sorted(e["event_id"] for e in events)
    people = {p[0]: p for p in PEOPLE}
    for record in enriched:
        person = people.get(record["user_id"])
        assert (record["gender"], record["state"]) == ((person[2], person[3]) if person else (None, None))
    dead = [r for r in out if r["topic"] == TOPICS.events_dlq]
    reasons = sorted(
        bytes(h["value"]).decode() for r in dead for h in r["headers"] if h["key"] == "dlq.reason"
    )
    assert reasons == ["bad magic byte: not Confluent-framed Avro", "unknown schema id 99"]


def _stream_kpis(spark: SparkSession, raw: DataFrame, folder: Path, dedup: bool) -> list[Row]:
    """The KPI plan as a streaming query over the rows (a file stream: the source Kafka would be),
    in update mode into a memory sink; the latest record per key."""
    raw.write.parquet(str(folder / "in"))
    stream = spark.readStream.schema(raw.schema).parquet(str(folder / "in"))
    counted = kpi_events(stream, EVENTS, _demographics(spark), "2 minutes", dedup, Rules.of(Settings()))
    name = f"kpis_{folder.name}_{dedup}".replace("-", "_")
    query = (
        kpi_records(counted, "1 minute", CAMPAIGN, SEGMENT, TOPICS)
        .writeStream.format("memory")
        .queryName(name)
        .outputMode("update")
        .option("checkpointLocation", str(folder / f"cp-{dedup}"))
        .start()
    )
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    return list({bytes(r["key"]): r for r in spark.table(name).collect()}.values())


def test_kpis_count_each_event_id_once_whatever_its_copies(spark: SparkSession, tmp_path: Path) -> None:
    events = _events(2, 300)
    copies = events[:40] + events[100:110]  # sent again: another offset, partition and Kafka timestamp
    encode = compile_encoder(V2, 7)
    values = [encode(e) for e in events + copies]
    stamps = [e["event_time"] + 5 for e in events] + [e["event_time"] + 9_000 for e in copies]
    raw = _kafka_rows(spark, values, stamps)
    out = _stream_kpis(spark, raw, tmp_path, dedup=True)

    campaign = {}
    for r in (r for r in out if r["topic"] == TOPICS.kpi_campaign):
        kpi = _decoded(bytes(r["value"]), CAMPAIGN)
        assert bytes(r["key"]).decode() == f"{kpi['campaign_id']}|{kpi['window_start']}"
        campaign[(kpi.pop("campaign_id"), kpi.pop("window_start"))] = kpi
        kpi.pop("window_end")
    assert campaign == oracle.campaign_kpis(events)
    segment = {}
    for r in (r for r in out if r["topic"] == TOPICS.kpi_segment):
        kpi = _decoded(bytes(r["value"]), SEGMENT)
        key = (kpi["gender"], kpi["age_band"], kpi["state"], kpi["window_start"])
        segment[key] = {k: kpi[k] for k in ("revenue_cents", "purchases", "users", "last_event_time")}
    assert segment == oracle.segment_kpis(events, {p[0]: p for p in PEOPLE})

    doubled = _stream_kpis(spark, raw, tmp_path / "without", dedup=False)
    campaign_rows = [r for r in doubled if r["topic"] == TOPICS.kpi_campaign]
    views = sum(_decoded(bytes(r["value"]), CAMPAIGN)["views"] for r in campaign_rows)
    assert views == sum(1 for e in events + copies if e["tag"] == "view")  # the dedup is what drops them
