"""`shopstream spark run` (the streaming job until Ctrl-C or --duration) and `bench spark`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopstream.cli.common import err, settings_of

app = typer.Typer(help="The PySpark Structured Streaming job (decode, enrich, windowed KPIs).")


@app.command("run")
def run(
    ctx: typer.Context,
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
    from shopstream.clients.endpoints import require
    from shopstream.stack.artifacts import spark_runtime
    from spark_job.run import RunOptions, run_job
    from spark_job.session import SparkRuntime

    settings = settings_of(ctx)
    java_home, jars = spark_runtime(settings)  # looked up: setup.sh fetched them
    # before a Spark session takes seconds to fail; Kafka as the job's own identity
    require(settings, "kafka", "registry", "mariadb", kafka_as="spark")

    options = RunOptions(
        master=master,
        trigger_s=trigger,
        starting_offsets=starting_offsets,
        checkpoint_dir=checkpoint_dir,
        window=window,
        watermark=watermark,
        max_offsets_per_trigger=max_offsets_per_trigger,
        duration_s=duration,
        queries=tuple(queries.split(",")),
        mode=mode,
    )
    run_job(
        settings,
        SparkRuntime(java_home, jars),
        options,
        report=lambda line: err.print(line, markup=False, highlight=False),
    )


@app.command("reset")
def reset(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The query whose checkpoint goes: enrich or kpis.")],
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Default: <state dir>/spark/checkpoints.")
    ] = None,
) -> None:
    """Remove a query's checkpoint (offsets and state): it starts afresh at its next start, reading
    the events Kafka still holds from the earliest. Needed when its state was written by an earlier
    plan of the query (the job says so)."""
    from shopstream.jobstatus import QUERIES, default_checkpoint_dir, reset_checkpoint

    if query not in QUERIES:
        raise typer.BadParameter("enrich or kpis", param_hint="QUERY")
    folder = checkpoint_dir or default_checkpoint_dir(settings_of(ctx))
    removed = reset_checkpoint(folder, query)
    err.print(f"checkpoint of {query} {'removed' if removed else 'absent'}: {folder / query}")


def bench(
    ctx: typer.Context,
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

    from shopstream.bench.spark import bench_spark
    from shopstream.clients.endpoints import require

    settings = settings_of(ctx)
    require(settings, "kafka", "registry", "mariadb")
    result = bench_spark(
        settings,
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
