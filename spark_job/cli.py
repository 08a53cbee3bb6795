"""`shopstream spark run`: the streaming job until Ctrl-C (or --duration)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from compose.stack.errors import MissingPrerequisite
from scripts.settings import get_settings
from spark_job.process import READY

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql.streaming import StreamingQuery

    from scripts.settings import Settings
    from spark_job.job import StreamingJob

PROGRESS_EVERY_S = 10.0
MAX_RESTARTS = 3  # per query and run: enough for a transient failure, not for a crash loop
app = typer.Typer(help="The PySpark Structured Streaming job (decode, enrich, windowed KPIs).")
err = Console(stderr=True, soft_wrap=True)


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


@app.command("run")
def run(
    master: Annotated[
        str | None, typer.Option(help="Spark master (default SHOPSTREAM_SPARK_MASTER).")
    ] = None,
    trigger: Annotated[float | None, typer.Option(help="Micro-batch interval in seconds.", min=0)] = None,
    starting_offsets: Annotated[
        str, typer.Option(help="earliest or latest (first start only).")
    ] = "earliest",
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Default: <state dir>/spark/checkpoints.")
    ] = None,
    window: Annotated[str | None, typer.Option(help="KPI window, e.g. '1 minute'.")] = None,
    watermark: Annotated[str | None, typer.Option(help="Allowed lateness, e.g. '2 minutes'.")] = None,
    max_offsets_per_trigger: Annotated[int | None, typer.Option(help="Cap records per micro-batch.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    queries: Annotated[str, typer.Option(help="Comma-separated subset of enrich,kpis.")] = "enrich,kpis",
    mode: Annotated[
        str | None,
        typer.Option(
            help="Enrichment engine: realtime or microbatch (default SHOPSTREAM_SPARK_ENRICH_MODE)."
        ),
    ] = None,
) -> None:
    """Run the streaming queries; Ctrl-C/SIGTERM stops them cleanly (checkpoints kept)."""
    if starting_offsets not in ("earliest", "latest"):
        raise typer.BadParameter("--starting-offsets must be earliest or latest")
    settings = get_settings()
    mode = mode or settings.spark_enrich_mode
    if mode not in ("realtime", "microbatch"):
        raise typer.BadParameter("--mode must be realtime or microbatch")
    wanted = [name.strip() for name in queries.split(",") if name.strip()]
    master = _master(settings, master or settings.spark_master, mode, wanted)
    from spark_job.job import JobOptions, StreamingJob
    from spark_job.session import spark_session

    options = JobOptions(
        checkpoint_dir=checkpoint_dir or settings.state_dir / "spark" / "checkpoints",
        starting_offsets=starting_offsets,
        trigger_s=settings.spark_trigger_s if trigger is None else trigger,
        kpi_trigger_s=settings.spark_kpi_trigger_s,
        window=window or settings.spark_window,
        watermark=watermark or settings.spark_watermark,
        max_offsets_per_trigger=max_offsets_per_trigger,
        realtime=mode == "realtime",
        realtime_batch_s=max(5.0, settings.spark_demographics_refresh_s),
    )
    try:
        with err.status("starting Spark"):
            spark = spark_session(settings, master=master)
            job = StreamingJob(spark, settings, options)
            starters = job.starters()
            unknown = set(wanted) - set(starters)
            if unknown:
                raise typer.BadParameter(f"unknown queries {sorted(unknown)}; known: {sorted(starters)}")
            running = {name: starters[name]() for name in wanted}
    except (MissingPrerequisite, RuntimeError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    err.print(
        f"{READY}: running {', '.join(running)} on {spark.sparkContext.master}; "
        f"UI {spark.sparkContext.uiWebUrl}; checkpoints {options.checkpoint_dir}"
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        _supervise(job, running, starters, duration)
    except KeyboardInterrupt:
        err.print("stopping")
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    finally:
        for query in running.values():
            query.stop()
        spark.stop()


def _master(settings: Settings, master: str, mode: str, wanted: list[str]) -> str:
    """The master to run on: in realtime mode with enough task slots for the long-running tasks."""
    from spark_job.slots import NotEnoughSlots, partitions, realtime_master

    if mode != "realtime" or "enrich" not in wanted:
        return master
    try:
        count = partitions(settings.kafka_bootstrap_servers, settings.topic_events)
        master, why = realtime_master(master, count, with_kpis=len(wanted) > 1)
    except NotEnoughSlots as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    err.print(f"Real-time Mode on {master}: {why}")
    return master


def _supervise(
    job: StreamingJob,
    running: dict[str, StreamingQuery],
    starters: dict[str, Callable[[], StreamingQuery]],
    duration: float | None,
) -> None:
    """Progress lines; restarts a query that stopped on a new schema id, or failed (a few times)."""
    deadline = time.monotonic() + duration if duration else None
    restarts = dict.fromkeys(running, 0)
    last_report = time.monotonic()
    while deadline is None or time.monotonic() < deadline:
        if time.monotonic() - last_report >= PROGRESS_EVERY_S:
            err.print(progress_line(running))
            last_report = time.monotonic()
        for name, query in list(running.items()):
            failure = query.exception()
            if failure is None:
                continue
            schema_id = job.reload_schema(str(failure))
            if schema_id is not None:
                err.print(
                    f"query {name}: schema id {schema_id} "
                    + ("registered since the start: restarting to decode it" if schema_id in job.writers.by_id
                       else "is no version of the subject: restarting; its records go to the DLQ")
                )  # fmt: skip
                running[name] = starters[name]()
                continue
            # e.g. SPARK-55271 (4.1.1): an NPE in progress metrics after re-running the batch a crash
            # left uncommitted; the batch itself is committed, so a restart resumes cleanly.
            if restarts[name] >= MAX_RESTARTS:
                raise RuntimeError(f"query {name} failed {restarts[name] + 1} times: {failure}")
            restarts[name] += 1
            err.print(f"query {name} failed ({str(failure).splitlines()[0][:200]}); restart {restarts[name]}")
            running[name] = starters[name]()
        time.sleep(0.5)


def bench(
    rates: Annotated[str, typer.Option(help="Comma-separated producer rates (events/s), one step each.")] = (
        "5000,10000,20000,30000"
    ),
    step: Annotated[float, typer.Option(help="Seconds per rate step.", min=5)] = 30,
    warmup: Annotated[
        float, typer.Option(help="Seconds at the start of a step left out of the figures.")
    ] = 10,
    master: Annotated[
        str | None, typer.Option(help="Spark master of the job (default: the job's own choice).")
    ] = None,
    trigger: Annotated[float, typer.Option(help="Micro-batch interval of the job (0 = asap).", min=0)] = 0.0,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
    kpis: Annotated[bool, typer.Option(help="Run the KPI queries too (their own Spark app).")] = True,
    mode: Annotated[str, typer.Option(help="Enrichment engine: realtime or microbatch.")] = "realtime",
) -> None:
    """Events/s through the job and p50/p95/p99 production-to-enriched latency at fixed rates."""
    import json

    from rich.table import Table

    from spark_job.bench import bench_spark

    result = bench_spark(
        get_settings(),
        [int(r) for r in rates.split(",")],
        step,
        warmup,
        master,
        trigger,
        report=err.print,
        kpis=kpis,
        mode=mode,
    )
    engine = f"trigger {trigger} s" if mode == "microbatch" else "Real-time Mode"
    table = Table(title=f"Spark job benchmark ({result['master']}, {engine}, KPIs {result['kpi_queries']})")
    for column in ("target ev/s", "through ev/s", "p50 ms", "p95 ms", "p99 ms", "KPI lag (records)"):
        table.add_column(column, justify="right")
    for row in result["steps"]:
        table.add_row(
            f"{row['target_rate']:,}", f"{row['events_per_s']:,.0f}",
            f"{row['p50_ms']:,.0f}", f"{row['p95_ms']:,.0f}", f"{row['p99_ms']:,.0f}",
            "-" if row["kpi_lag"] is None else f"{row['kpi_lag']:,}",
        )  # fmt: skip
    table.caption = f"highest rate with p95 <= 1 s: {result['max_rate_with_p95_under_1s']}"
    err.print(table)
    print(json.dumps(result))
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))
