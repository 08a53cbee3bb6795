"""`shopstream schemas register | check | evolve | list | show`: contracts in the schema registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopstream.cli.common import out, settings_of
from shopstream.clients.registry import Registry, registry_client
from shopstream.errors import RegistryError
from shopstream.ops import registration

app = typer.Typer(help="Avro contracts in the schema registry (any Confluent-API registry, by URL).")


def _registry(ctx: typer.Context) -> Registry:
    return registry_client(settings_of(ctx).registry, "admin")


def _report(line: str) -> None:
    out.print(line, markup=False, highlight=False)


@app.command()
def register(ctx: typer.Context) -> None:
    """Set BACKWARD compatibility on every value subject and register each contract's first version."""
    registration.register(settings_of(ctx), _report)


@app.command()
def check(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Candidate .avsc file.", exists=True, dir_okay=False)],
    subject: Annotated[str, typer.Option("--subject", "-s", help="Subject to check against.")],
) -> None:
    """Ask the registry whether FILE is compatible with SUBJECT's latest version; exit 1 if not."""
    try:
        result = registration.check(settings_of(ctx), file, subject)
    except ValueError as exc:  # not JSON
        raise RegistryError(f"{file}: {exc}") from exc
    for message in result.messages:
        out.print(f"  - {message}", markup=False)
    if not result.compatible:
        raise RegistryError(f"{file} is NOT compatible with {subject}")
    out.print(f"[green]{file} is compatible with {subject}[/]")


@app.command()
def evolve(
    ctx: typer.Context,
    subject: Annotated[
        str | None, typer.Option("--subject", "-s", help="Only this subject (default: all contracts).")
    ] = None,
) -> None:
    """Register the next version of each contract, after the registry confirms it is compatible."""
    registration.evolve(settings_of(ctx), _report, subject)


@app.command("list")
def list_subjects(ctx: typer.Context) -> None:
    """Subjects with their versions, latest id and compatibility level."""
    registry = _registry(ctx)
    table = Table("subject", "versions", "latest id", "compatibility")
    for subject in registry.subjects():
        info = registry.info(subject)
        table.add_row(subject, ",".join(map(str, info.versions)), str(info.latest_id), info.compatibility)
    out.print(table)


@app.command()
def show(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="Subject, e.g. shop.events-value.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Version number or 'latest'.")] = "latest",
) -> None:
    """Print one version of a subject: id, version and the schema."""
    found = _registry(ctx).version(subject, version)
    out.print(f"subject {found['subject']} version {found['version']} id {found['id']}")
    out.print_json(found["schema"])
