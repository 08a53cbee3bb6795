"""Running the streaming job until Ctrl-C/SIGTERM (or a duration): start the queries, report their
progress, restart a query that stopped on a new schema id or failed (a few times)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from shopstream.clients.kafka import partitions
from shopstream.errors import ShopstreamError
from shopstream.jobstatus import QUERIES, SchemaRestart
from shopstream.settings import Settings
from spark_job.progress import Tracker
from spark_job.slots import needed_slots, realtime_master

if TYPE_CHECKING:
    from pyspark.sql.streaming import StreamingQuery

    from spark_job.job import StreamingJob
    from spark_job.session import SparkRuntime

PROGRESS_EVERY_S = 10.0
# failures of a query in a row (with no completed batch and no restart on a schema version in
# between: SPARK-55271 fails a query once after such a restart): enough for a transient failure, not
# for a crash loop
MAX_RESTARTS = 3
NEW_VERSION = "registered since the start: restarting to decode it"
Report = Callable[[str], None]


class SparkJobError(ShopstreamError):
    """The Spark job could not start, or a query kept failing."""


class CheckpointIncompatible(SparkJobError):
    """A query's checkpoint holds state of another plan: the query cannot resume from it."""

    def __init__(self, query: str, checkpoint: Path, reason: str) -> None:
        super().__init__(
            f"query {query} cannot resume from its checkpoint {checkpoint}: its state was written by an "
            f"earlier plan of the query ({reason})",
            f"start it from a fresh checkpoint: `shopstream spark reset {query}` (the query then reads the "
            "events Kafka still holds again; KPI points of windows rebuilt from them are overwritten)",
        )


@dataclass(frozen=True)
class RunOptions:
    master: str | None = None
    trigger_s: float | None = None
    starting_offsets: str = "earliest"
    checkpoint_dir: Path | None = None
    window: str | None = None
    watermark: str | None = None
    max_offsets_per_trigger: int | None = None
    duration_s: float | None = None
    queries: tuple[str, ...] = QUERIES
    mode: str | None = None


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def progress_line(queries: dict[str, StreamingQuery]) -> str:
    """Each query's last micro-batch: rows, duration, rate (what a user watches for lag)."""
    parts = []
    for name, query in queries.items():
        progress = query.lastProgress
        if not progress:
            parts.append(f"{name}: no batch yet")
            continue
        took = progress["durationMs"].get("triggerExecution", 0)
        parts.append(
            f"{name}: batch {progress['batchId']} {progress['numInputRows']:,} rows in {took:,} ms "
            f"({progress.get('processedRowsPerSecond', 0):,.0f} rows/s)"
        )
    return " | ".join(parts)


def choose_master(
    settings: Settings, master: str, mode: str, wanted: tuple[str, ...], report: Report
) -> tuple[str, int]:
    """The master to run on (in realtime mode with enough task slots for the long-running tasks), and
    the task slots the application takes on a cluster."""
    topic_partitions = partitions(settings.kafka, settings.topics.events, role="spark")
    slots = needed_slots(topic_partitions, mode == "realtime", wanted)
    if mode != "realtime" or "enrich" not in wanted:
        return master, slots
    master, why = realtime_master(master, topic_partitions, with_kpis=len(wanted) > 1)
    report(f"Real-time Mode on {master}: {why}")
    return master, slots


def run_job(settings: Settings, runtime: SparkRuntime, options: RunOptions, report: Report) -> None:
    """Run the chosen queries on ``runtime`` until Ctrl-C/SIGTERM or the duration; checkpoints are kept."""
    if options.starting_offsets not in ("earliest", "latest"):
        raise SparkJobError("--starting-offsets must be earliest or latest")
    mode = options.mode or settings.spark.enrich_mode
    if mode not in ("realtime", "microbatch"):
        raise SparkJobError("--mode must be realtime or microbatch")
    wanted = tuple(name.strip() for name in options.queries if name.strip())
    unknown = set(wanted) - set(QUERIES)
    if unknown:
        raise SparkJobError(f"unknown queries {sorted(unknown)}; known: {sorted(QUERIES)}")
    master, slots = choose_master(settings, options.master or settings.spark.master, mode, wanted, report)
    from shopstream.metrics import unregister
    from spark_job.job import JobOptions, StreamingJob
    from spark_job.metrics import register_spark_target
    from spark_job.session import spark_session

    job_options = JobOptions(
        checkpoint_dir=options.checkpoint_dir or settings.stack.state_dir / "spark" / "checkpoints",
        starting_offsets=options.starting_offsets,
        trigger_s=settings.spark.trigger_s if options.trigger_s is None else options.trigger_s,
        kpi_trigger_s=settings.spark.kpi_trigger_s,
        window=options.window or settings.spark.window,
        watermark=options.watermark or settings.spark.watermark,
        max_offsets_per_trigger=options.max_offsets_per_trigger,
        realtime=mode == "realtime",
        realtime_batch_s=max(5.0, settings.spark.demographics_refresh_s),
    )
    spark = spark_session(settings, runtime, master=master, slots=slots)
    target: Path | None = None
    running: dict[str, StreamingQuery] = {}
    trackers: dict[str, Tracker] = {}
    try:
        job = StreamingJob(spark, settings, job_options)
        starters = job.starters()
        running = {name: starters[name]() for name in wanted}
        context = spark.sparkContext
        master, ui = context.master or "", context.uiWebUrl
        trackers = {name: Tracker(job_options.checkpoint_dir, name, master, ui) for name in running}
        target = register_spark_target(settings, ui, wanted)  # Prometheus' target (spark_job/metrics.py)
        report(
            f"running {', '.join(running)} on {context.master}; UI {context.uiWebUrl}; "
            f"checkpoints {job_options.checkpoint_dir}"
        )
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            _supervise(job, running, starters, trackers, options.duration_s, report)
        except KeyboardInterrupt:
            report("stopping")
    finally:
        unregister(target)
        for query in running.values():
            query.stop()
        for tracker in trackers.values():
            if tracker.status.state != "failed":
                tracker.state("stopped")
        spark.stop()


def _supervise(
    job: StreamingJob,
    running: dict[str, StreamingQuery],
    starters: dict[str, Callable[[], StreamingQuery]],
    trackers: dict[str, Tracker],
    duration: float | None,
    report: Report,
) -> None:
    """Progress lines; restarts a query planned before a schema version registered since, or that
    stopped on a new schema id, or failed (a few times in a row)."""
    deadline = time.monotonic() + duration if duration else None
    restarts = dict.fromkeys(running, 0)
    last_report = time.monotonic()
    while deadline is None or time.monotonic() < deadline:
        if time.monotonic() - last_report >= PROGRESS_EVERY_S:
            report(progress_line(running))
            last_report = time.monotonic()
        kept = job.refresh()
        if kept:
            report(kept)
        for name in job.outdated():
            if name in running:
                report(f"query {name}: schema id {job.writers.newest_id} {NEW_VERSION}")
                running[name].stop()
                running[name] = starters[name]()
                restarts[name] = 0
                trackers[name].schema_restart(
                    SchemaRestart(schema_id=job.writers.newest_id, cause="registered")
                )
        for name, query in list(running.items()):
            tracker = trackers[name]
            tracker.progress(query.lastProgress, lambda q=query: list(q.recentProgress))  # type: ignore[misc]
            exception = query.exception()
            if exception is None:
                if restarts[name] and query.lastProgress:  # a batch completed since its last failure
                    restarts[name] = 0
                continue
            failure = job.failure_of(exception)
            if failure.kind == "schema_not_loaded" and failure.schema_id is not None:
                loaded = job.load_schema(failure.schema_id)
                report(
                    f"query {name}: schema id {failure.schema_id} "
                    + (
                        NEW_VERSION
                        if loaded
                        else "is no version of the subject: restarting; its records go to the DLQ"
                    )
                )
                tracker.state("restarting", failure)
                running[name] = starters[name]()
                restarts[name] = 0
                tracker.schema_restart(SchemaRestart(schema_id=failure.schema_id, cause="record"))
                continue
            if failure.kind == "checkpoint_incompatible":
                tracker.state("failed", failure)
                raise CheckpointIncompatible(name, job.checkpoint(name), failure.message)
            # e.g. SPARK-55271 (4.1.1): an NPE in progress metrics after re-running the batch a crash
            # left uncommitted; the batch itself is committed, so a restart resumes cleanly.
            if restarts[name] >= MAX_RESTARTS:
                tracker.state("failed", failure)
                raise SparkJobError(f"query {name} failed {restarts[name] + 1} times: {failure.message}")
            restarts[name] += 1
            report(f"query {name} failed ({failure.message[:200]}); restart {restarts[name]}")
            tracker.state("restarting", failure)
            running[name] = starters[name]()
            tracker.state("running", restarted=True)
        time.sleep(0.5)
