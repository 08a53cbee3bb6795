"""`shopstream bench sink`, `bench e2e`, `bench influx-shape` and `bench kpi-state` (their figures as
tables and JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from shopstream.cli.common import emit_result, err, settings_of


def _config_pairs(values: list[str] | None) -> dict[str, str]:
    pairs = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        pairs[key] = value
    return pairs


def _cpu(*seconds: float | None) -> str:
    return " / ".join("-" if s is None else f"{s:,.1f}" for s in seconds)


def _latency(lat: dict[str, Any]) -> str:
    return f"{lat['p50_ms']:,.0f} / {lat['p95_ms']:,.0f} / {lat['p99_ms']:,.0f}"


def bench_sink(
    ctx: typer.Context,
    count: Annotated[int, typer.Option(help="Avro records (and points) per side.", min=1_000)] = 1_000_000,
    partitions: Annotated[
        int, typer.Option(help="Partitions of the bench topic = connector tasks = direct writers.", min=1)
    ] = 3,
    shape: Annotated[
        str,
        typer.Option(
            help="events: enriched events through connectors/influxdb-events.json (6 tags, 13 fields); "
            "kpi: campaign KPIs through connectors/influxdb-kpi-campaign.json (1 tag, ~10 fields)."
        ),
    ] = "events",
    set_config: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a connector setting, KEY=VALUE (repeatable), e.g. --set batch.size=10000; "
            "batch.size also sets the direct write's batch size.",
        ),
    ] = None,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
) -> None:
    """Points/s through the InfluxDB sink connector for COUNT Avro records, next to a direct batched
    write of the very points it stored to the same InfluxDB (the ceiling), plus the connector's write
    latency and the CPU seconds of InfluxDB and Connect (per record for Connect).

    The topic is loaded first (not measured); topics, subjects, databases, connector and consumer
    group are removed afterwards, also on failure or Ctrl-C."""
    from shopstream.bench.sink import SHAPES, bench_sink
    from shopstream.clients.endpoints import require

    if shape not in SHAPES:
        raise typer.BadParameter(f"one of {', '.join(SHAPES)}", param_hint="--shape")
    extra = _config_pairs(set_config)
    settings = settings_of(ctx)
    require(settings, "kafka", "registry", "connect", "influxdb")  # one line, not a stuck progress bar
    tasks: dict[str, TaskID] = {}
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    ) as progress:  # fmt: skip

        def advance(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        result = bench_sink(
            settings,
            count,
            partitions,
            shape,
            progress=advance,
            report=lambda line: progress.console.print(line, markup=False, highlight=False),
            extra_config=extra,
        )
    direct, connector = result["direct"], result["connector"]
    table = Table(
        title=f"InfluxDB sink benchmark: {count:,} {shape} records, {result['fields_per_point']} fields, "
        f"batch {result['batch_size']:,}, gzip level {result['gzip_level']}, {partitions} partitions"
    )
    columns = ("side", "points", "seconds", "points/s", "write latency p50 / p95 / p99 ms", "requests",
               "CPU s: InfluxDB / Connect")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(
        f"direct write ({direct['writers']} writers)", f"{direct['points']:,}", f"{direct['seconds']:.2f}",
        f"{direct['points_per_s']:,.0f}", _latency(direct["latency"]), f"{direct['requests']:,}",
        _cpu(direct["influxdb_cpu_s"]),
    )  # fmt: skip
    table.add_row(
        f"connector ({connector['tasks']} tasks), first to last point", f"{connector['points']:,}",
        f"{connector['seconds']:.2f}", f"{connector['points_per_s']:,.0f}",
        _latency(connector["latency_max_over_tasks"]) + " (max over tasks)", f"{connector['requests']:,}",
        "",
    )  # fmt: skip
    table.add_row(
        "connector, deploy to done", "", f"{connector['seconds_deploy_to_done']:.2f}",
        f"{connector['points_per_s_deploy_to_done']:,.0f}", "", "",
        _cpu(connector["influxdb_cpu_s"], connector["connect_cpu_s"]),
    )  # fmt: skip
    goals = "; ".join(f"{goal}: {'met' if met else 'NOT met'}" for goal, met in result["goals"].items())
    table.caption = (
        f"ratio connector/direct: {result['ratio']:.3f}; Connect CPU per record: "
        f"{connector['connect_cpu_us_per_record']} us. Goals: {goals}. Both databases held exactly "
        f"{count:,} points with the records' integer sums. Load average before / after: "
        f"{result['load_average_before']} / {result['load_average_after']}"
    )
    err.print(table)
    emit_result(result, json_out)


def bench_e2e(
    ctx: typer.Context,
    rates: Annotated[str, typer.Option(help="Comma-separated producer rates (events/s), one step each.")] = (
        "10000,20000,25000"
    ),
    step: Annotated[float, typer.Option(help="Seconds per rate step.", min=10)] = 300,
    warmup: Annotated[float, typer.Option(help="Seconds at a step's start left out of the figures.")] = 30,
    resend: Annotated[
        float,
        typer.Option(help="Fraction of the events the producer sends twice (20 s apart).", min=0, max=1),
    ] = 0.0,
    lead_in: Annotated[
        float,
        typer.Option(
            help="Seconds at the first rate before the steps, longer than --warmup (0: none): the Spark "
            "applications start up there, not in the first step.",
            min=0,
        ),
    ] = 60,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
) -> None:
    """The whole pipeline at fixed rates, measured in InfluxDB: events/s into it, latency from
    production to queryable (p50/p95/p99) with its per-stage breakdown, KPI freshness, KPI lag,
    the duplicates the KPI query dropped, CPU seconds per process and the load average per step.

    Runs as `shopstream run` does (Spark job, sink connectors, telemetry; the producer per step) on
    topics, connectors and a database of its own, removed afterwards, also on failure or Ctrl-C."""
    from shopstream.bench.e2e import GOALS, bench_e2e

    if 0 < lead_in <= warmup:
        raise typer.BadParameter(
            f"{lead_in:g} s is not longer than --warmup {warmup:g} s", param_hint="--lead-in"
        )
    result = bench_e2e(
        settings_of(ctx),
        [int(r) for r in rates.split(",")],
        step,
        warmup,
        report=lambda line: err.print(line, markup=False, highlight=False),
        resend=resend,
        lead_in_s=lead_in,
    )
    machine = result["machine"]
    table = Table(
        title=f"End-to-end benchmark: {machine['cores']} cores, {machine['memory_gib']} GiB, whole stack up "
        f"({result['step_s']:g} s per step, first {result['warmup_s']:g} s left out; "
        f"{lead_in:g}-s lead-in before the first)"
    )
    columns = ("rate ev/s", "into InfluxDB ev/s", "all landed", "latency p50/p95/p99 ms", "producer ack ms",
               "Spark ms", "sink ms", "KPI freshness ms", "KPI lag", "dups dropped / resent", "load",
               "goals")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    for row in result["steps"]:
        ack = row["producer_ack"]
        table.add_row(
            f"{row['target_rate']:,}",
            f"{row['into_influxdb_per_s']:,.0f}",
            "yes" if row["all_landed"] else f"{row['landed']:,}/{row['produced']:,}",
            _latency(row["latency"]),
            "-" if ack is None else f"{ack['p50']:,.0f} / {ack['p95']:,.0f} / {ack['p99']:,.0f}",
            _latency(row["spark_stage"]),
            _latency(row["sink_stage"]),
            _latency(row["kpi_freshness"]),
            f"{row['kpi_lag']:,} (<= {row['kpi_lag_bound']:,})" if row["kpi_lag"] is not None else "-",
            f"{row['dedup']['duplicates_dropped']:,} / {row['resent']:,}" if row["dedup"] else "-",
            f"{row['load_average_before']:.1f} -> {row['load_average_1m']:.1f}",
            "met" if row["goals_met"] else "missed",
        )
    table.caption = (
        f"goals: events p95 <= {GOALS['events_p95_ms']:,.0f} ms, p99 <= {GOALS['events_p99_ms']:,.0f} ms; "
        f"KPI freshness p95 <= {GOALS['kpi_freshness_p95_ms']:,.0f} ms; "
        f"KPI lag <= {result['kpi_lag_bound']}. "
        f"Highest rate meeting them: {result['max_rate_goals_met'] or 'none'}"
    )
    err.print(table)
    emit_result(result, json_out)


def bench_influx_shape(
    ctx: typer.Context,
    points: Annotated[int, typer.Option(help="Event points written per shape.", min=10_000)] = 300_000,
    writers: Annotated[int, typer.Option(help="Concurrent writers.", min=1)] = 3,
    batch: Annotated[int, typer.Option(help="Points per write request.", min=100)] = 5_000,
    buckets: Annotated[
        str, typer.Option(help="Bucket counts of the tag,bucket(N) shapes, comma-separated.")
    ] = "1024,16384",
    rate: Annotated[
        float, typer.Option(help="Event rate for the expected collisions per hour.", min=1)
    ] = 20_000,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
) -> None:
    """What each candidate shape of the event points costs InfluxDB: the same POINTS enriched events
    written straight to /write as points of each shape (tags; every other value a field), with
    InfluxDB's CPU per point, points/s, the series created, the events lost to (series, time)
    collisions, the expected collisions per hour at RATE events/s, and the time of the product's
    queries on event points. Its databases are removed afterwards."""
    from shopstream.bench.influx_shape import bench_influx_shape
    from shopstream.clients.endpoints import require

    try:
        counts = [int(n) for n in buckets.split(",") if n.strip()]
    except ValueError:
        raise typer.BadParameter("comma-separated integers", param_hint="--buckets") from None
    if any(n < 2 for n in counts):
        raise typer.BadParameter("each bucket count >= 2", param_hint="--buckets")
    settings = settings_of(ctx)
    require(settings, "influxdb")
    tasks: dict[str, TaskID] = {}
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as progress:  # fmt: skip

        def advance(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        result = bench_influx_shape(
            settings, points=points, writers=writers, batch=batch, buckets=counts, rate=rate,
            progress=advance, report=lambda line: err.print(line, markup=False, highlight=False),
        )  # fmt: skip
    table = Table(
        title=f"Event point shapes: {points:,} points, {writers} writers, batches of {batch:,}, "
        f"{result['cpus']} cores"
    )
    queries = list(result["shapes"][0]["query_ms"])
    columns = ["shape", "InfluxDB us/point", "points/s", "series", "lost", f"collisions/h at {rate:,.0f}/s"]
    for column in [*columns, *(f"{q} ms" for q in queries), "load"]:
        table.add_column(column, justify="right")
    for row in result["shapes"]:
        cpu = row["influxdb_cpu_us_per_point"]
        table.add_row(
            row["shape"],
            "-" if cpu is None else f"{cpu:,.1f}",
            f"{row['points_per_s']:,.0f}",
            f"{row['series']:,}",
            f"{row['events_lost']:,}",
            f"{row['collisions_per_hour_at_rate']:,.3f}",
            *(f"{row['query_ms'][q]:,.1f}" for q in queries),
            f"{row['load_average_before'][0]:.1f} -> {row['load_average_after'][0]:.1f}",
        )
    err.print(table)
    emit_result(result, json_out)


def bench_kpi_state(
    ctx: typer.Context,
    rate: Annotated[int, typer.Option(help="Events/s of the rate source.", min=100)] = 12_000,
    seconds: Annotated[
        float, typer.Option(help="Seconds measured per run, after the warm-up.", min=20)
    ] = 120,
    warmup: Annotated[
        float, typer.Option(help="Seconds at a run's start left out of the figures.", min=0)
    ] = 40,
    stores: Annotated[
        str, typer.Option(help="State stores, comma-separated; the first, without dedup, is the reference.")
    ] = "rocksdb,hdfs",
    repeat: Annotated[int, typer.Option(help="Runs per configuration (interleaved).", min=1)] = 3,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
) -> None:
    """What the KPI query's state costs on Spark alone: the product's de-duplication and windowed
    aggregation on Spark's rate source at RATE events/s (no Kafka, registry or database), per state
    store with the de-duplication and the first store without it (the reference), each run in a Spark
    application of its own: batch duration against the trigger, events/s while busy, CPU us per event
    (and its ratio to the reference), time in state updates / removals / commits, state rows and memory."""
    from shopstream.bench.kpi_state import bench_kpi_state
    from shopstream.settings import StateStore

    names = [s.strip() for s in stores.split(",") if s.strip()]
    known = get_args(StateStore)
    if not names or any(n not in known for n in names):
        raise typer.BadParameter(f"comma-separated, each one of {', '.join(known)}", param_hint="--stores")
    settings = settings_of(ctx)
    result = bench_kpi_state(
        settings, rate, seconds, warmup, names, repeat,
        report=lambda line: err.print(line, markup=False, highlight=False),
    )  # fmt: skip
    table = Table(
        title=f"KPI query state: {rate:,} events/s on the rate source, trigger {result['trigger_s']:g} s, "
        f"watermark {result['watermark']}, {result['master']}"
    )
    for column in ["run", "configuration", "mean / p95 batch ms", "events/s busy", "CPU us/event",
                   "updates / removals / commit ms", "state rows", "state MB", "load"]:  # fmt: skip
        table.add_column(column, justify="right")
    for number, run in enumerate(result["runs"], 1):
        state = run["state_ms_per_batch"]
        table.add_row(
            str(number),
            run["config"],
            f"{run['mean_batch_ms']:,.0f} / {run['batch_ms']['p95']:,.0f}",
            f"{run['events_per_s_busy']:,.0f}",
            "-" if run["cpu_us_per_event"] is None else f"{run['cpu_us_per_event']:,.1f}",
            f"{state['updates']:,.0f} / {state['removals']:,.0f} / {state['commit']:,.0f}",
            " + ".join(f"{n:,}" for n in run["state_rows"]),
            " + ".join(f"{m:,.0f}" for m in run["state_memory_mb"]),
            f"{run['load_average_before'][0]:.1f} -> {run['load_average_after'][0]:.1f}",
        )
    err.print(table)
    for name, spread in result["configs"].items():
        cpu = spread["cpu_us_per_event"]
        err.print(
            f"{name}: CPU us/event median {cpu['median']} (range {cpu['min']}-{cpu['max']}), "
            f"{spread['cpu_ratio_to_reference']}x the reference ({result['reference']})",
            markup=False, highlight=False,
        )  # fmt: skip
    emit_result(result, json_out)
