"""The `shopstream` command: every operation of the project hangs off this one entry point.

The entry (the root callback) builds the settings once and hands them to every command through the
context. A ``ShopstreamError`` raised anywhere below becomes one red line, its hint and its exit code
here, in ``ShopstreamGroup``; nothing below prints errors itself.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from shopstream.cli import alerts as alerts_cli
from shopstream.cli import bench as bench_cli
from shopstream.cli import chaos as chaos_cli
from shopstream.cli import compose as compose_cli
from shopstream.cli import connectors as connectors_cli
from shopstream.cli import pipeline as pipeline_cli
from shopstream.cli import produce as producer_cli
from shopstream.cli import schemas as schemas_cli
from shopstream.cli import spark as spark_cli
from shopstream.cli import stack as stack_cli
from shopstream.cli.common import err, settings_of
from shopstream.errors import ShopstreamError
from shopstream.settings import load_settings


def report_error(error: ShopstreamError) -> None:
    """One red line (the message; a multi-line message keeps its lines), then the hint."""
    err.print(Text(f"error: {error.message}", style="red"))
    if error.hint:
        err.print(Text(f"hint: {error.hint}", style="yellow"))


class ShopstreamGroup(TyperGroup):
    """The root group: turns a ShopstreamError of any command into its message, hint and exit code."""

    def invoke(self, ctx: Any) -> Any:  # typer's (vendored) click Context
        try:
            return super().invoke(ctx)
        except ShopstreamError as error:
            report_error(error)
            raise typer.Exit(error.exit_code) from error


app = typer.Typer(
    cls=ShopstreamGroup,
    help="shopstream: real-time e-commerce analytics on Kafka, Spark and Kafka Connect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_cli.app, name="stack")
app.add_typer(schemas_cli.app, name="schemas")
app.add_typer(connectors_cli.app, name="connectors")
app.add_typer(spark_cli.app, name="spark")
app.add_typer(pipeline_cli.app, name="pipeline")
app.add_typer(compose_cli.app, name="compose")
app.command("produce")(producer_cli.produce)
bench_app = typer.Typer(help="Benchmarks that print figures (table and JSON) against a reference.")
app.add_typer(bench_app, name="bench")
bench_app.command("producer")(producer_cli.bench_producer)
bench_app.command("spark")(spark_cli.bench)
bench_app.command("sink")(bench_cli.bench_sink)
bench_app.command("e2e")(bench_cli.bench_e2e)
bench_app.command("influx-shape")(bench_cli.bench_influx_shape)
bench_app.command("kpi-state")(bench_cli.bench_kpi_state)
app.command("chaos")(chaos_cli.chaos)
app.command("alerts")(alerts_cli.alerts)


@app.callback()
def _entry(ctx: typer.Context) -> None:
    """Build the settings once (failing fast, naming the variable, when one is invalid)."""
    ctx.obj = load_settings()


@app.command()
def fetch(ctx: typer.Context) -> None:
    """Download the stack's JVM artefacts from Maven Central into the cache (skips what is there),
    build InfluxDB from source into the cache unless it is there (Go, cargo: minutes, once per
    machine), and build the InfluxDB sink connector with its tests when its sources changed."""
    from shopstream.stack.artifacts import ensure_artifacts, ensure_sink_plugin
    from shopstream.stack.influxd import ensure_influxd
    from shopstream.stack.paths import StackPaths

    paths = StackPaths.of(settings_of(ctx))
    artifacts = ensure_artifacts(paths)
    err.print(f"artefacts in {artifacts.root}")
    influxd = ensure_influxd(paths.cache, err)
    err.print(f"InfluxDB server: {influxd}")
    err.print(f"InfluxDB sink connector plugin in {ensure_sink_plugin(influxd, err)}")


@app.command()
def dashboards(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if a file is out of date.")
    ] = False,
) -> None:
    """Generate grafana/dashboards/*.json from their code (shopstream/ops/dashboards.py)."""
    from shopstream.ops.dashboard_files import write_dashboards

    stale = write_dashboards(check=check)
    for path in stale:
        print(f"{path}: {'out of date' if check else 'written'}")
    if check and stale:
        raise typer.Exit(1)


demographics_app = typer.Typer(help="Customer demographics in MariaDB.")
app.add_typer(demographics_app, name="demographics")


@demographics_app.command("load")
def demographics_load(
    ctx: typer.Context,
    count: Annotated[int, typer.Option(help="Rows: ids 1..COUNT (rows above are removed).", min=0)] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated rows.")] = 42,
    batch_size: Annotated[int, typer.Option(help="Rows per INSERT batch.", min=1)] = 5_000,
) -> None:
    """Create the demographics table if needed and upsert COUNT seeded rows (idempotent)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from shopstream.clients.endpoints import require
    from shopstream.ops import demographics

    settings = settings_of(ctx)
    require(settings, "mariadb")  # one line, before the progress bar, when it cannot be reached
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("loading demographics", total=count)
        result = demographics.load(
            settings, count, seed, batch_size, progress=lambda n: progress.advance(task, n)
        )
    print(demographics.summary(settings, result))


@app.command()
def run(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Producer events/s.", min=1)] = 2_000,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
) -> None:
    """The main job: stack up, contracts, demographics, connectors, Spark job and producer; Ctrl-C stops."""
    from shopstream.ops.runner import run_pipeline

    run_pipeline(settings_of(ctx), rate, duration, report=lambda line: err.print(line, markup=False))


def main() -> None:
    app()
