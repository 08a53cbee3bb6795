"""Spark job benchmark: sustained events/s and production-to-enriched latency at fixed producer rates.

Everything runs as users run it, each as a program of the stack's supervisor: the job (`shopstream
spark run`, as the pipeline runs it: enrichment and the KPI queries in two Spark applications) and
the producer (`shopstream produce --rate R --duration S` per step), on fresh topics. Latency of one
event = Kafka timestamp of its enriched record (when Spark wrote it) - Kafka timestamp of its source
record (when the producer sent it): both are stamped on this machine's clock.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer

from shopstream.clients.kafka import client_config, end_offset_total
from shopstream.clients.kafka_acls import ensure_pipeline
from shopstream.clients.registry import registry_client
from shopstream.contracts import CONTRACTS, ENRICHED_SCHEMA_FILE, load_schema
from shopstream.errors import ProcessFailed, Timeout
from shopstream.jobstatus import ENRICH, KPIS, read_status
from shopstream.ops.demographics import require_loaded
from shopstream.ops.jobs import PRODUCER, Job, spark_jobs
from shopstream.ops.monitor import query_lag
from shopstream.ops.scratch import scratch
from shopstream.retry import wait_until
from shopstream.settings import Settings
from shopstream.stats import percentiles


@dataclass(frozen=True)
class Step:
    target_rate: int
    produced: int
    all_enriched: bool  # every event of the step reached the enriched topic within 60 s of its end
    events_per_s: float  # enriched records written per second after the warm-up
    p50_ms: float
    p95_ms: float
    p99_ms: float
    kpi_lag: int | None  # source records the KPI query had not committed at the step's end


class LatencyProbe:
    """Consumes the enriched topic in a thread: counts every record per output second, and decodes
    one in ``sample_every`` for its latency (decoding all would take a third of a core at 25k/s,
    from the job it measures)."""

    def __init__(self, settings: Settings, sample_every: int = 10) -> None:
        self.settings = settings
        self.schema = fastavro.parse_schema(json.loads(load_schema(ENRICHED_SCHEMA_FILE)))
        self.sample_every = sample_every
        self.samples: list[tuple[int, int]] = []  # (source ts ms, latency ms)
        self.seen = 0
        self.per_second: Counter[int] = Counter()  # output second -> records written in it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        consumer = Consumer(
            {
                **client_config(self.settings.kafka, "admin"),  # the benchmark's probe
                "group.id": f"{self.settings.topics.enriched}.latency-probe",  # removed with the topics
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([self.settings.topics.enriched])
        reader = self.schema
        while not self._stop.is_set():
            for message in consumer.consume(5_000, 0.2):
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                written_ms = message.timestamp()[1]
                self.per_second[written_ms // 1000] += 1
                self.seen += 1
                if self.seen % self.sample_every:
                    continue
                record: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), reader, reader)
                source_ms = int(record["source_timestamp"].timestamp() * 1000)
                self.samples.append((source_ms, written_ms - source_ms))
        consumer.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=10)

    def wait_for(self, records: int, timeout_s: float) -> bool:
        """Until ``records`` have been seen in all (the tail of a step is part of its latency)."""
        try:
            wait_until(lambda: self.seen >= records, timeout_s, f"{records:,} enriched records", every_s=0.2)
        except Timeout:
            return False
        return True

    def between(self, start_ms: int, end_ms: int) -> list[int]:
        """Latencies of the sampled records produced in [start, end)."""
        return [lat for ts, lat in list(self.samples) if start_ms <= ts < end_ms]

    def written(self, start_ms: int, end_ms: int) -> int:
        return sum(n for sec, n in list(self.per_second.items()) if start_ms // 1000 <= sec < end_ms // 1000)


def _register(settings: Settings) -> None:
    registry = registry_client(settings.registry, "admin")
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
    kpis: bool = True,
    mode: str = "realtime",
) -> dict[str, Any]:
    require_loaded(settings)  # the job joins every event with them
    prefix = f"bench.spark.{uuid.uuid4().hex[:8]}"
    workdir = workdir or settings.stack.state_dir / "bench" / prefix.rsplit(".", 1)[1]
    # its topics, subjects and the probe's consumer group go at the end, however the run ends
    with scratch(settings, prefix):
        try:
            return _bench(settings, settings.with_topic_prefix(prefix), rates, step_s, warmup_s, master,
                          trigger_s, workdir, report, kpis, mode)  # fmt: skip
        finally:
            shutil.rmtree(workdir / "cp", ignore_errors=True)  # the checkpoints; the logs stay


def _bench(
    settings: Settings,
    bench: Settings,
    rates: list[int],
    step_s: float,
    warmup_s: float,
    master: str | None,
    trigger_s: float,
    workdir: Path,
    report: Any,
    kpis: bool,
    mode: str,
) -> dict[str, Any]:
    ensure_pipeline(bench)
    _register(bench)
    env = {"SHOPSTREAM_SPARK_MASTER": master} if master else {}
    args = ["--trigger", str(trigger_s), "--mode", mode]
    name = f"bench-{workdir.name}"
    jobs = spark_jobs(
        bench,
        args,
        prefix=name,
        env=env,
        logs=workdir,
        ui_port=settings.spark.ui_port + 10,
        checkpoint_dir=workdir / "cp",
    )
    jobs = jobs[: 2 if kpis else 1]
    producer: Job | None = None
    probe = LatencyProbe(bench)
    steps: list[Step] = []
    produced_total = 0
    try:
        for job in jobs:
            job.start()
        enrich = read_status(jobs[0].checkpoint_dir, ENRICH, pid=jobs[0].pid)
        master = enrich.master if enrich else master
        report(
            f"enrichment on {master} ({os.cpu_count()} cores here) in {mode} mode"
            + (f"; KPI queries in a second Spark app, nice {settings.spark.kpi_nice}" if kpis else "")
        )
        probe.start()
        for rate in rates:
            started_ms = int(time.time() * 1000)
            before = end_offset_total(bench.kafka, bench.topics.events)
            args = ["produce", "--rate", str(rate), "--duration", str(step_s), "--stats-interval", "1000"]
            # a step is one run: a failed producer fails the step, the supervisor does not rerun it
            producer = Job(
                bench,
                f"{name}-producer",
                args,
                log=workdir / f"producer-{rate}.log",
                restart=False,
                given=PRODUCER,
            )
            producer.start()
            status = producer.wait_exit(step_s + 120)
            if status != 0:
                raise ProcessFailed(
                    f"the producer exited with {status}:\n{producer.tail()}", f"see {producer.log}"
                )
            ended_ms = int(time.time() * 1000)
            acked = (
                end_offset_total(bench.kafka, bench.topics.events) - before
            )  # idempotent: one offset per event
            produced_total += acked
            complete = probe.wait_for(produced_total, timeout_s=60)
            measured_from = started_ms + int(warmup_s * 1000)
            latency = percentiles(probe.between(measured_from, ended_ms))
            step = Step(
                target_rate=rate,
                produced=acked,
                all_enriched=complete,
                events_per_s=probe.written(measured_from, ended_ms) / ((ended_ms - measured_from) / 1000),
                p50_ms=latency["p50"],
                p95_ms=latency["p95"],
                p99_ms=latency["p99"],
                kpi_lag=query_lag(bench, workdir / "cp", KPIS, bench.topics.events) if kpis else None,
            )
            steps.append(step)
            report(
                f"rate {rate:>7,}/s: {step.events_per_s:>9,.0f} ev/s through, "
                f"p50 {step.p50_ms:,.0f} ms, p95 {step.p95_ms:,.0f} ms, p99 {step.p99_ms:,.0f} ms; "
                f"KPI queries {'-' if step.kpi_lag is None else f'{step.kpi_lag:,}'} records behind"
            )
    finally:
        probe.stop()
        for job in jobs:
            job.remove()
        if producer is not None:
            producer.remove()
    ok = [s for s in steps if s.all_enriched and s.p95_ms <= 1000 and s.events_per_s >= 0.95 * s.target_rate]
    return {
        "benchmark": "spark",
        "master": master,
        "cores": os.cpu_count(),
        "mode": mode,
        "trigger_s": trigger_s if mode == "microbatch" else None,
        "kpi_queries": "second Spark application, niced" if kpis else "not run",
        "step_s": step_s,
        "warmup_s": warmup_s,
        "spark_settings": {
            "shuffle_partitions": settings.spark.shuffle_partitions,
            "state_store": settings.spark.state_store,
            "kpi_dedup": settings.spark.kpi_dedup,
        },
        "steps": [asdict(s) for s in steps],
        "max_rate_with_p95_under_1s": max((s.target_rate for s in ok), default=None),
        "records_observed": probe.seen,
        "latency_sample": f"1 in {probe.sample_every} records",
    }
