"""`shopstream schemas register | check | evolve | list | show`: contracts in the schema registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas.catalog import CONTRACTS, contract_for_subject, load_schema
from schemas.registry import Registry, RegistryError
from scripts.settings import get_settings

app = typer.Typer(help="Avro contracts in the schema registry (any Confluent-API registry, by URL).")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
COMPATIBILITY = "BACKWARD"


def _registry() -> Registry:
    return Registry(get_settings().schema_registry_url)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{message}[/]")
    return typer.Exit(1)


@app.command()
def register() -> None:
    """Set BACKWARD compatibility on every value subject and register each contract's first version."""
    settings, registry = get_settings(), _registry()
    try:
        for contract in CONTRACTS:
            subject = contract.subject(settings)
            registry.set_compatibility(subject, COMPATIBILITY)
            first = load_schema(contract.files[0])
            if registry.versions(subject):
                out.print(f"{subject}: already has versions {registry.versions(subject)}")
                continue
            schema_id = registry.register(subject, first)
            out.print(f"{subject}: registered {contract.files[0]} as id {schema_id} ({COMPATIBILITY})")
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="Candidate .avsc file.", exists=True, dir_okay=False)],
    subject: Annotated[str, typer.Option("--subject", "-s", help="Subject to check against.")],
) -> None:
    """Ask the registry whether FILE is compatible with SUBJECT's latest version; exit 1 if not."""
    try:
        result = _registry().check(subject, load_schema(file.resolve()))
    except (RegistryError, json.JSONDecodeError) as exc:
        raise _fail(str(exc)) from exc
    for message in result.messages:
        out.print(f"  - {message}", markup=False)
    if not result.compatible:
        raise _fail(f"{file} is NOT compatible with {subject}")
    out.print(f"[green]{file} is compatible with {subject}[/]")


@app.command()
def evolve(
    subject: Annotated[
        str | None, typer.Option("--subject", "-s", help="Only this subject (default: all contracts).")
    ] = None,
) -> None:
    """Register the next version of each contract, after the registry confirms it is compatible."""
    settings, registry = get_settings(), _registry()
    contracts = CONTRACTS
    if subject is not None:
        found = contract_for_subject(settings, subject)
        if found is None:
            raise _fail(f"no contract for subject {subject!r}; see `shopstream schemas list`")
        contracts = (found,)
    try:
        for contract in contracts:
            subj = contract.subject(settings)
            pending = [f for f in contract.files if registry.lookup(subj, load_schema(f)) is None]
            if not registry.versions(subj):
                raise _fail(f"{subj} has no versions: run `shopstream schemas register` first")
            if not pending:
                out.print(f"{subj}: up to date (versions {registry.versions(subj)})")
                continue
            candidate = load_schema(pending[0])
            verdict = registry.check(subj, candidate)
            if not verdict.compatible:
                raise _fail(f"{subj}: {pending[0]} rejected: " + "; ".join(verdict.messages))
            schema_id = registry.register(subj, candidate)
            out.print(
                f"{subj}: registered {pending[0]} as id {schema_id}, versions {registry.versions(subj)}"
            )
    except RegistryError as exc:
        raise _fail(str(exc)) from exc


@app.command("list")
def list_subjects() -> None:
    """Subjects with their versions, latest id and compatibility level."""
    registry = _registry()
    table = Table("subject", "versions", "latest id", "compatibility")
    try:
        for subject in registry.subjects():
            info = registry.info(subject)
            table.add_row(subject, ",".join(map(str, info.versions)), str(info.latest_id), info.compatibility)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    out.print(table)


@app.command()
def show(
    subject: Annotated[str, typer.Argument(help="Subject, e.g. shop.events-value.")],
    version: Annotated[str, typer.Option("--version", "-v", help="Version number or 'latest'.")] = "latest",
) -> None:
    """Print one version of a subject: id, version and the schema."""
    try:
        found = _registry().version(subject, version)
    except RegistryError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"subject {found['subject']} version {found['version']} id {found['id']}")
    out.print_json(found["schema"])
