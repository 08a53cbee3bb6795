"""The `shopstream` command: every operation of the project hangs off this one entry point."""

from __future__ import annotations

from typing import Annotated

import pymysql
import typer
from pydantic import ValidationError
from rich.console import Console

from compose.stack import cli as stack_cli
from compose.stack.errors import StackError
from compose.stack.paths import StackPaths
from producer import cli as producer_cli
from schemas import cli as schemas_cli
from scripts import connectors_cli, pipeline_cli
from scripts.settings import get_settings
from spark_job import cli as spark_cli

app = typer.Typer(
    help="shopstream: real-time e-commerce analytics on Kafka, Spark and Kafka Connect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_cli.app, name="stack")
app.add_typer(schemas_cli.app, name="schemas")
app.add_typer(connectors_cli.app, name="connectors")
app.add_typer(spark_cli.app, name="spark")
app.add_typer(pipeline_cli.app, name="pipeline")
app.command("produce")(producer_cli.produce)
bench_app = typer.Typer(help="Benchmarks that print figures (table and JSON) against a reference.")
app.add_typer(bench_app, name="bench")
bench_app.command("producer")(producer_cli.bench_producer)
bench_app.command("spark")(spark_cli.bench)
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def _check_settings() -> None:
    """Fail fast, naming the field, when a setting is invalid."""
    try:
        get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            err.print(f"[red]invalid setting[/] SHOPSTREAM_{field.upper()}: {error['msg']}")
        raise typer.Exit(2) from exc


@app.command()
def fetch() -> None:
    """Download the stack's JVM artefacts from Maven Central into the cache (skips what is there)."""
    from compose.stack.artifacts import ensure_artifacts

    try:
        artifacts = ensure_artifacts(StackPaths.of(get_settings()))
    except StackError as exc:
        err.print(f"[red]fetch failed:[/] {exc}")
        raise typer.Exit(1) from exc
    err.print(f"artefacts in {artifacts.root}")


demographics_app = typer.Typer(help="Customer demographics in MariaDB.")
app.add_typer(demographics_app, name="demographics")


@demographics_app.command("load")
def demographics_load(
    count: Annotated[int, typer.Option(help="Rows: ids 1..COUNT (rows above are removed).", min=0)] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated rows.")] = 42,
    batch_size: Annotated[int, typer.Option(help="Rows per INSERT batch.", min=1)] = 5_000,
) -> None:
    """Create the demographics table if needed and upsert COUNT seeded rows (idempotent)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from scripts import demographics

    settings = get_settings()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as progress:
        task = progress.add_task("loading demographics", total=count)
        try:
            result = demographics.load(
                settings, count, seed, batch_size, progress=lambda n: progress.advance(task, n)
            )
        except pymysql.err.MySQLError as exc:
            err.print(f"[red]MariaDB at {settings.mysql_host}:{settings.mysql_port} failed:[/] {exc}")
            raise typer.Exit(1) from exc
    total = demographics.row_count(settings)
    print(
        f"{result.rows:,} rows upserted in {result.seconds:.2f} s ({result.rows_per_s:,.0f} rows/s), "
        f"{result.deleted:,} removed; table holds {total:,} rows"
    )


@app.command()
def run(
    rate: Annotated[float, typer.Option(help="Producer events/s.", min=1)] = 2_000,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=1)] = None,
) -> None:
    """The main job: stack up, contracts, demographics, connectors, Spark job and producer; Ctrl-C stops."""
    import subprocess

    from scripts.pipeline import run_pipeline

    try:
        run_pipeline(get_settings(), rate, duration, report=lambda line: err.print(line, markup=False))
    except (subprocess.CalledProcessError, RuntimeError) as exc:
        err.print(f"[red]pipeline failed:[/] {exc}")
        raise typer.Exit(1) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
