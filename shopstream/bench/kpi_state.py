"""`bench kpi-state`: what the KPI query's state costs on Spark alone, per state store, with and
without the de-duplication.

The KPI query's stateful part, the product's own functions (``spark_job.kpi.distinct_events``: each
event id once within the watermark; ``kpi_rows``: both KPI families from one windowed aggregation),
runs on Spark's rate source at a fixed rate, one Spark application per run (the job's master and
settings), with no Kafka, registry or database: rows shaped like enriched events (the traffic model's
campaigns and users, its four tags, a UUID per event, the segment dimensions from the user id's hash).
What it leaves out is the same for every configuration: decoding, the demographics join, the output.

Configurations: each state store with the de-duplication, and the first store without it (the
reference: what the de-duplication costs is the ratio to it). Each configuration runs ``repeat``
times, the configurations interleaved, each run in a process and Spark application of its own.

Per run, over the batches after the warm-up: the mean and p95 batch duration against the trigger (a
batch longer than the trigger means the query falls behind), events/s the query sustains while busy,
the application's CPU microseconds per event, the time per batch in state updates, removals (the
watermark's eviction) and commits, and the state rows and memory of each stateful operator at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopstream.bench.cpu import tree_cpu_s
from shopstream.errors import ShopstreamError
from shopstream.settings import Settings, Slice
from shopstream.stats import percentile, percentiles

if TYPE_CHECKING:
    from pyspark.sql import Column

Report = Callable[[str], None]
SLICE = Slice(("spark", "stack"), {})  # all a run reads: the Spark settings and where its state goes
RUN_TIMEOUT_EXTRA_S = 180  # a run's Spark start and stop on top of its measured seconds


@dataclass(frozen=True)
class Config:
    """One configuration: a state store, the de-duplication on or off."""

    store: str
    dedup: bool

    @property
    def name(self) -> str:
        return f"{self.store}{'' if self.dedup else ' no dedup'}"


def configs(stores: Sequence[str]) -> list[Config]:
    """Each store with the de-duplication, then the reference: the first store without it."""
    return [*(Config(store, True) for store in stores), Config(stores[0], False)]


@dataclass(frozen=True)
class Run:
    config: str
    batches: int
    events: int
    batch_ms: dict[str, float]
    mean_batch_ms: float
    events_per_s_busy: float
    cpu_us_per_event: float | None
    state_ms_per_batch: dict[str, float]  # updates, removals, commit: summed over the tasks
    state_rows: list[int]  # per stateful operator, at the end
    state_memory_mb: list[float]
    load_average_before: list[float]
    load_average_after: list[float]


def summarise(progress: Sequence[dict[str, Any]], cpu_s: float | None) -> dict[str, Any]:
    """A run's figures from its batches' progress reports (those after the warm-up, with input)."""
    batches = [p for p in progress if p.get("numInputRows", 0) > 0]
    if not batches:
        raise ShopstreamError("no batch with input after the warm-up", "give the run more --seconds")
    events = sum(int(p["numInputRows"]) for p in batches)
    durations = [float(p["durationMs"]["triggerExecution"]) for p in batches]
    operators = [p.get("stateOperators", []) for p in batches]
    state_ms = {
        kind: round(sum(float(o.get(key, 0)) for ops in operators for o in ops) / len(batches), 1)
        for kind, key in (("updates", "allUpdatesTimeMs"), ("removals", "allRemovalsTimeMs"),
                          ("commit", "commitTimeMs"))
    }  # fmt: skip
    return {
        "batches": len(batches),
        "events": events,
        "batch_ms": percentiles(durations),
        "mean_batch_ms": round(sum(durations) / len(durations), 1),
        "events_per_s_busy": round(events / (sum(durations) / 1000), 1),
        "cpu_us_per_event": None if cpu_s is None else round(cpu_s * 1e6 / events, 2),
        "state_ms_per_batch": state_ms,
        "state_rows": [int(o.get("numRowsTotal", 0)) for o in operators[-1]],
        "state_memory_mb": [round(int(o.get("memoryUsedBytes", 0)) / 2**20, 1) for o in operators[-1]],
    }


def _event_id(value: Column) -> Column:
    """A distinct UUID-formatted id per rate-source row, as the producer's ids look. Not ``uuid()``:
    its seed is a literal of the generated code, new in every micro-batch, so every batch compiled
    new classes (the JIT's compiler took a quarter of the run's CPU, measured with ``perf``)."""
    from pyspark.sql import functions as F

    digits = F.concat(F.lpad(F.hex(F.xxhash64(value)), 16, "0"), F.lpad(F.hex(value), 16, "0"))
    return F.concat_ws("-", *(F.substring(digits, start, length) for start, length in _UUID_GROUPS))


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def run_one(config: Config, rate: int, seconds: float, warmup: float) -> dict[str, Any]:
    """One run in this process (the child's side): the query on the rate source, its figures."""
    from pyspark.sql import functions as F

    from producer.traffic import TrafficConfig
    from shopstream.stack.artifacts import spark_runtime
    from spark_job import kpi
    from spark_job.session import SparkRuntime, spark_session

    settings = Settings()
    traffic = TrafficConfig()
    spark = spark_session(
        settings, SparkRuntime(*spark_runtime(settings)), app_name=f"bench kpi-state {config.name}"
    )
    try:
        rows = spark.readStream.format("rate").option("rowsPerSecond", rate).load()
        tags = F.array(*(F.lit(t) for t in ("view", "view", "view", "click", "add_to_cart", "purchase")))
        draw = F.abs(F.xxhash64("value"))
        user = F.abs(F.xxhash64("value", F.lit("user"))) % traffic.users + 1
        events = rows.select(
            F.col("timestamp").alias("event_time"),
            F.element_at(tags, (draw % 6 + 1).cast("int")).alias("tag"),
            user.alias("user_id"),
            (draw % 20_000).alias("total_amount_cents"),
            (draw % 5 + 1).cast("int").alias("units"),
            F.concat(
                F.lit("campaign-"),
                (F.abs(F.xxhash64("value", F.lit("c"))) % traffic.campaigns).cast("string"),
            ).alias("campaign_id"),
            kpi.event_key(_event_id(F.col("value"))).alias(kpi.EVENT_KEY),
        )
        watermark = settings.spark.watermark
        if config.dedup:
            once = kpi.distinct_events(events, watermark).drop(kpi.EVENT_KEY)
        else:
            once = events.drop(kpi.EVENT_KEY).withWatermark("event_time", watermark)
        of_user = F.abs(F.xxhash64("user_id"))
        enriched = once.select(
            "*",
            F.element_at(F.array(F.lit("F"), F.lit("M")), (of_user % 2 + 1).cast("int")).alias("gender"),
            F.concat(F.lit("age-"), (of_user % 7).cast("string")).alias("age_band"),
            F.concat(F.lit("state-"), (of_user % 50).cast("string")).alias("state"),
        )
        query = (
            kpi.kpi_rows(enriched, settings.spark.window)
            .writeStream.format("noop")
            .outputMode("update")
            .option("checkpointLocation", str(settings.stack.state_dir / "checkpoint"))
            .trigger(processingTime=f"{settings.spark.kpi_trigger_s} seconds")
            .start()
        )
        time.sleep(warmup)
        first = max((p["batchId"] for p in query.recentProgress), default=-1) + 1
        cpu_before = tree_cpu_s(os.getpid())
        time.sleep(seconds)
        cpu_after = tree_cpu_s(os.getpid())
        progress = [p for p in query.recentProgress if p["batchId"] >= first]
        query.stop()
        cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
        return summarise(progress, cpu)
    finally:
        spark.stop()


def bench_kpi_state(
    settings: Settings, rate: int, seconds: float, warmup: float, stores: Sequence[str], repeat: int,
    report: Report,
) -> dict[str, Any]:  # fmt: skip
    """Every configuration ``repeat`` times, interleaved, each in a process of its own."""
    plan = configs(stores)
    runs: list[Run] = []
    for round_ in range(1, repeat + 1):
        for config in plan:
            report(f"[{round_}/{repeat}] {config.name}: {rate:,} events/s for {warmup:.0f} + {seconds:.0f} s")
            with tempfile.TemporaryDirectory(prefix="shopstream-kpi-state-") as state:
                child = settings.replace(state_dir=Path(state), spark_state_store=config.store)
                before = list(os.getloadavg())
                figures = _child(child, config, rate, seconds, warmup)
                runs.append(Run(config.name, **figures, load_average_before=before,
                                load_average_after=list(os.getloadavg())))  # fmt: skip
            report(f"  mean batch {runs[-1].mean_batch_ms:,.0f} ms, {runs[-1].cpu_us_per_event} us/event")
    reference = plan[-1].name
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup": warmup,
        "trigger_s": settings.spark.kpi_trigger_s,
        "window": settings.spark.window,
        "watermark": settings.spark.watermark,
        "master": settings.spark.master,
        "shuffle_partitions": settings.spark.shuffle_partitions,
        "reference": reference,
        "runs": [asdict(r) for r in runs],
        "configs": {c.name: _spread(runs, c.name, reference) for c in plan},
    }


def _spread(runs: Sequence[Run], name: str, reference: str) -> dict[str, Any]:
    """Median and range of a configuration's runs; its CPU per event as a ratio to the reference's."""

    def of(config: str) -> list[float]:
        return sorted(
            r.cpu_us_per_event for r in runs if r.config == config and r.cpu_us_per_event is not None
        )

    cpu, ref = of(name), of(reference)
    mean_ms = sorted(r.mean_batch_ms for r in runs if r.config == name)
    median = percentile(cpu, 50) if cpu else None
    ref_median = percentile(ref, 50) if ref else None
    return {
        "cpu_us_per_event": {
            "median": median,
            "min": cpu[0] if cpu else None,
            "max": cpu[-1] if cpu else None,
        },
        "mean_batch_ms": {"median": percentile(mean_ms, 50), "min": mean_ms[0], "max": mean_ms[-1]},
        "cpu_ratio_to_reference": None if median is None or not ref_median else round(median / ref_median, 2),
    }


def _child(settings: Settings, config: Config, rate: int, seconds: float, warmup: float) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "shopstream.bench.kpi_state",
        json.dumps([config.store, config.dedup, rate, seconds, warmup]),
    ]
    env = {**os.environ, **settings.env_for(SLICE)}
    limit_s = seconds + warmup + RUN_TIMEOUT_EXTRA_S
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=limit_s, check=False)
    except subprocess.TimeoutExpired:
        raise ShopstreamError(
            f"the {config.name} run did not end within {limit_s:.0f} s",
            f"run it alone to see where it hangs: python -m shopstream.bench.kpi_state '{argv[-1]}'",
        ) from None
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise ShopstreamError(
            f"the {config.name} run failed (exit {done.returncode}):\n{tail}",
            f"run it alone: python -m shopstream.bench.kpi_state '{argv[-1]}'",
        )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: Sequence[str]) -> None:
    """The child: ``python -m shopstream.bench.kpi_state '[store, dedup, rate, seconds, warmup]'`` with
    the Spark and stack settings in its environment; prints its figures as one JSON line."""
    store, dedup, rate, seconds, warmup = json.loads(argv[0])
    print(json.dumps(run_one(Config(store, bool(dedup)), int(rate), float(seconds), float(warmup))))


if __name__ == "__main__":
    main(sys.argv[1:])
