"""Producer benchmark: shopstream's Avro producer vs Kafka's own ProducerPerformance, same broker, same run.

Both write to fresh topics with the same producer settings (acks=all, idempotence, lz4, linger,
batch size) and the same record size: ProducerPerformance gets our average Avro payload size. The
topics and the subject are named ``bench.producer.<run>.*`` and removed at the end, also after a
failure or Ctrl-C.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka.admin import AclOperation, NewTopic, ResourceType

from producer.run import RunLimits, run
from producer.sender import EventSender, SerializerKind, producer_config
from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import admin_client, java_security_config
from shopstream.clients.kafka_acls import Grant, ensure_acls
from shopstream.ops.scratch import scratch
from shopstream.settings import Settings
from shopstream.stack.services.base import StackContext
from shopstream.stack.services.jvm import properties_value, write_secret

_PERF_LINE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


@dataclass(frozen=True)
class Figures:
    name: str
    records: int
    seconds: float
    records_per_s: float
    mb_per_s: float


def _fresh_topic(settings: Settings, topic: str, partitions: int) -> str:
    """A topic the producer role may write (the ACLs go with the run's prefix)."""
    admin = admin_client(settings.kafka)
    admin.create_topics([NewTopic(topic, partitions, settings.kafka.replication_factor)])[topic].result()
    ensure_acls(
        settings, [Grant("producer", ResourceType.TOPIC, topic, (AclOperation.WRITE, AclOperation.DESCRIBE))]
    )
    return topic


def _register_bench_subject(settings: Settings, topic: str, schema_version: int) -> None:
    """The producer refuses unregistered schemas; register the event schema under the bench topic."""
    from shopstream.clients.registry import registry_client
    from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema, subject

    registry_client(settings.registry, "admin").register(
        subject(topic), load_schema(EVENT_SCHEMA_FILES[schema_version])
    )


def bench_shopstream(
    settings: Settings,
    count: int,
    schema_version: int,
    serializer: SerializerKind,
    partitions: int,
    prefix: str = "bench.producer",
) -> tuple[Figures, float]:
    """Our producer as fast as it goes; returns its figures and the average payload size."""
    topic = _fresh_topic(settings, f"{prefix}.shopstream", partitions)
    _register_bench_subject(settings, topic, schema_version)
    sender = EventSender(settings, topic=topic, schema_version=schema_version, serializer=serializer)
    model = TrafficModel(TrafficConfig(seed=7, schema_version=schema_version))
    sender.verify_against_reference(model.take(2_000))
    result = run(
        sender,
        TrafficModel(TrafficConfig(seed=1, schema_version=schema_version)).events(),
        RunLimits(count=count, stats_interval_s=1e9),
        report=lambda _line: None,
    )
    acked = int(result.counters["acked"])
    if acked != count:
        raise RuntimeError(f"only {acked} of {count} events acknowledged: {result.counters}")
    avg_size = result.counters["value_bytes"] / count
    return Figures(
        f"shopstream producer ({sender.serializer_kind} Avro)",
        count,
        result.elapsed_s,
        result.acked_per_s,
        result.mb_per_s,
    ), avg_size


def bench_kafka_perf(
    settings: Settings, count: int, record_size: int, partitions: int, prefix: str = "bench.producer"
) -> Figures:
    """Kafka's org.apache.kafka.tools.ProducerPerformance with the same producer settings."""
    ctx = StackContext(settings)
    topic = _fresh_topic(settings, f"{prefix}.kafka-perf", partitions)
    conf = producer_config(settings)
    props = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "acks": "all",
        "enable.idempotence": "true",
        "compression.type": conf["compression.type"],
        "linger.ms": conf["linger.ms"],
        "batch.size": conf["batch.size"],
        "buffer.memory": 268435456,
        # the same identity as ours; its password in a mode-600 file, not on the command line
        **java_security_config(settings.kafka, "producer"),
    }
    config = settings.stack.state_dir / "bench" / f"{prefix}.producer.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    write_secret(config, "".join(f"{k}={properties_value(str(v))}\n" for k, v in props.items()))
    cmd = [
        str(ctx.jdk.java),
        "-Xmx1g",
        "-cp",
        f"{ctx.artifacts.kafka_libs}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(count),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer.config",
        str(config),
    ]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        config.unlink(missing_ok=True)
    elapsed = time.perf_counter() - started
    matches = _PERF_LINE.findall(proc.stdout)
    if proc.returncode != 0 or not matches:
        raise RuntimeError(f"ProducerPerformance failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    records, per_s, mb_s = matches[-1]
    return Figures("Kafka ProducerPerformance (Java)", int(records), elapsed, float(per_s), float(mb_s))


def bench_producer(
    settings: Settings,
    count: int = 1_000_000,
    schema_version: int = 2,
    serializer: SerializerKind = "compiled",
    partitions: int = 3,
) -> dict[str, Any]:
    with scratch(settings, f"bench.producer.{uuid.uuid4().hex[:8]}") as prefix:
        ours, avg_size = bench_shopstream(settings, count, schema_version, serializer, partitions, prefix)
        reference = bench_kafka_perf(settings, count, max(1, round(avg_size)), partitions, prefix)
    return {
        "benchmark": "producer",
        "record_size_bytes": round(avg_size, 1),
        "producer_settings": {
            k: v
            for k, v in producer_config(settings).items()
            if k != "bootstrap.servers" and not k.startswith("sasl.")
        },
        "security_protocol": settings.kafka.security_protocol,
        "shopstream": asdict(ours),
        "kafka_producer_performance": asdict(reference),
        "ratio_records": round(ours.records_per_s / reference.records_per_s, 3),
    }
