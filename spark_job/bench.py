"""Spark job benchmark: sustained events/s and production-to-enriched latency at fixed producer rates.

Everything runs as users run it, each in its own process: the job (`shopstream spark run`) and the
producer (`shopstream produce --rate R`), on fresh topics. Latency of one event = Kafka timestamp
of its enriched record (when Spark wrote it) - Kafka timestamp of its source record (when the
producer sent it): both are stamped on this machine's clock.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer

from compose.stack.services.base import StackContext
from compose.stack.services.kafka import ensure_topics
from schemas.catalog import CONTRACTS, load_schema
from schemas.registry import Registry
from scripts.settings import Settings
from spark_job.process import JobProcess, cli_command


@dataclass(frozen=True)
class Step:
    target_rate: int
    produced: int
    enriched: int
    events_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


class LatencyProbe:
    """Consumes the enriched topic in a thread, recording (source ts, latency) per record."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schema = fastavro.parse_schema(json.loads(load_schema("enriched_event.avsc")))
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap_servers,
                "group.id": f"bench-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([self.settings.topic_enriched])
        reader = self.schema
        while not self._stop.is_set():
            for message in consumer.consume(5_000, 0.2):
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                record: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), reader, reader)
                source_ms = int(record["source_timestamp"].timestamp() * 1000)
                self.samples.append((source_ms, message.timestamp()[1] - source_ms))
        consumer.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def between(self, start_ms: int, end_ms: int) -> list[int]:
        return [lat for ts, lat in list(self.samples) if start_ms <= ts < end_ms]


def _percentile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))])


def _register(settings: Settings) -> None:
    registry = Registry(settings.schema_registry_url)
    for contract in CONTRACTS:
        for schema_file in contract.files:
            registry.register(contract.subject(settings), load_schema(schema_file))


def bench_spark(
    settings: Settings,
    rates: list[int],
    step_s: float = 30,
    warmup_s: float = 10,
    master: str | None = None,
    trigger_s: float = 0.0,
    workdir: Path | None = None,
    report: Any = print,
    queries: str = "enrich,kpi_campaign,kpi_segment",
    mode: str = "realtime",
) -> dict[str, Any]:
    bench = settings.with_topic_prefix(f"bench.spark.{uuid.uuid4().hex[:8]}")
    ensure_topics(StackContext(bench))
    _register(bench)
    workdir = workdir or settings.state_dir / "bench" / uuid.uuid4().hex[:8]
    env = {**os.environ, **bench.topic_env(), **({"SHOPSTREAM_SPARK_MASTER": master} if master else {})}
    job = JobProcess(
        ["--trigger", str(trigger_s), "--checkpoint-dir", str(workdir / "cp"), "--queries", queries,
         "--mode", mode],
        workdir / "job.log",
        env,
    )  # fmt: skip
    probe = LatencyProbe(bench)
    steps: list[Step] = []
    job.start()
    used = re.search(r" on (\S+); UI", job.log.read_text())
    master = used.group(1) if used else master
    report(f"job running on {master} ({os.cpu_count()} cores here), enrichment in {mode} mode")
    probe.start()
    try:
        for rate in rates:
            started_ms = int(time.time() * 1000)
            command = cli_command("produce", "--rate", str(rate), "--duration", str(step_s))
            produced = subprocess.run(
                [*command, "--stats-interval", "1000"], env=env, capture_output=True, text=True, check=True
            )
            summary = json.loads(produced.stdout)
            ended_ms = int(time.time() * 1000)
            time.sleep(5)  # let the tail of the step through
            measured_from = started_ms + int(warmup_s * 1000)
            latencies = probe.between(measured_from, ended_ms)
            step = Step(
                target_rate=rate,
                produced=int(summary["acked"]),
                enriched=len(probe.between(started_ms, ended_ms)),
                events_per_s=len(latencies) / ((ended_ms - measured_from) / 1000),
                p50_ms=_percentile(latencies, 0.50),
                p95_ms=_percentile(latencies, 0.95),
                p99_ms=_percentile(latencies, 0.99),
            )
            steps.append(step)
            report(
                f"rate {rate:>7,}/s: {step.events_per_s:>9,.0f} ev/s through, "
                f"p50 {step.p50_ms:,.0f} ms, p95 {step.p95_ms:,.0f} ms, p99 {step.p99_ms:,.0f} ms"
            )
    finally:
        probe.stop()
        job.stop()
    ok = [s for s in steps if s.p95_ms <= 1000 and s.events_per_s >= 0.95 * s.target_rate]
    return {
        "benchmark": "spark",
        "master": master,
        "cores": os.cpu_count(),
        "mode": mode,
        "trigger_s": trigger_s if mode == "microbatch" else None,
        "queries": queries,
        "step_s": step_s,
        "warmup_s": warmup_s,
        "spark_settings": {"shuffle_partitions": settings.spark_shuffle_partitions, "state_store": "RocksDB"},
        "steps": [asdict(s) for s in steps],
        "max_rate_with_p95_under_1s": max((s.target_rate for s in ok), default=None),
        "records_observed": len(probe.samples),
    }
