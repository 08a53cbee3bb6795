"""The `shopstream` command: every operation of the project hangs off this one entry point."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from compose.stack import cli as stack_cli
from compose.stack.errors import StackError
from compose.stack.paths import StackPaths
from scripts.settings import get_settings

app = typer.Typer(
    help="shopstream: real-time e-commerce analytics on Kafka, Spark and Kafka Connect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_cli.app, name="stack")
err = Console(stderr=True)


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


@app.command()
def run() -> None:
    """The main job: bring the local stack up and show its status."""
    stack_cli.up()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
