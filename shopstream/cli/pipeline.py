"""`shopstream pipeline status | monitor`: health of every stage, and the live view on its own."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from shopstream.cli.common import out, settings_of

app = typer.Typer(help="The running pipeline: health of every stage (status) and the live view (monitor).")

CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        help="The Spark job's checkpoints (default: <state dir>/spark/checkpoints).", file_okay=False
    ),
]


@app.command("status")
def status(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between the two samples rates come from (0: no rates).", min=0)
    ] = 1.0,
    checkpoint_dir: CheckpointDir = None,
    group: Annotated[
        list[str] | None, typer.Option(help="Also report this consumer group's lag (repeatable).")
    ] = None,
    max_lag: Annotated[
        int | None, typer.Option(help="Fail when a consumer is more records behind than this.", min=0)
    ] = None,
) -> None:
    """Every stage's health: services, topics, Spark job and queries, consumer lag, connectors.

    Exit 1 when any check fails (warnings, such as dead letters, do not fail)."""
    from shopstream.ops.health import collect, status_table

    report = collect(settings_of(ctx), checkpoint_dir, interval, group or [], max_lag)
    if json_out:
        print(json.dumps(report.as_json(), indent=2))
    else:
        out.print(status_table(report))
    if not report.healthy:
        raise typer.Exit(1)


@app.command("monitor")
def monitor(
    ctx: typer.Context,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between refreshes (default: 2 on a TTY, else 5).", min=0.5)
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
    checkpoint_dir: CheckpointDir = None,
    telemetry: Annotated[
        bool, typer.Option(help="Write each sample to InfluxDB as pipeline_stage points.")
    ] = True,
) -> None:
    """The live view of `shopstream run` without starting anything (e.g. in a second terminal)."""
    from shopstream.clients.endpoints import require
    from shopstream.ops.live_view import watch

    settings = settings_of(ctx)
    require(settings, "kafka")
    if telemetry:  # each sample is written there
        require(settings, "influxdb")
    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        watch(
            settings,
            lambda: duration is None or time.monotonic() - started < duration,
            interval_s=interval,
            checkpoint_dir=checkpoint_dir,
            telemetry=telemetry,
        )


@app.command("telemetry")
def telemetry(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(help="Seconds between samples.", min=0.5)] = 5.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
    checkpoint_dir: CheckpointDir = None,
) -> None:
    """Sample every stage and write it to InfluxDB as pipeline_stage points, and serve the last sample
    (Spark query progress, lag, KPI freshness) for Prometheus on SHOPSTREAM_TELEMETRY_METRICS_PORT,
    until Ctrl-C/SIGTERM (`shopstream run` runs this as a program of the stack's supervisor)."""
    import signal

    from shopstream.clients.endpoints import require
    from shopstream.ops.telemetry import sample_forever

    settings = settings_of(ctx)
    require(settings, "kafka", "influxdb")  # one line, not a sample loop of errors

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        points = sample_forever(
            settings,
            interval,
            checkpoint_dir,
            keep_going=lambda: duration is None or time.monotonic() - started < duration,
            report=lambda line: out.print(line, markup=False, highlight=False),
        )
        out.print(f"telemetry: {points:,} points written")
