"""`shopstream connectors deploy | diff | status | restart | pause | resume | delete | prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scripts.connectors import (
    CONNECTORS_DIR,
    ConnectClient,
    ConnectError,
    ConnectorSpec,
    deploy,
    diff,
    load_specs,
    mask,
)
from scripts.settings import get_settings

app = typer.Typer(help="Kafka Connect connectors, deployed declaratively from connectors/*.json.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Names = Annotated[list[str] | None, typer.Argument(help="Connector names (default: all in the folder).")]
Folder = Annotated[Path, typer.Option("--dir", help="Folder of connector JSON files.", file_okay=False)]


def _client() -> ConnectClient:
    return ConnectClient(get_settings().connect_url)


def _specs(names: list[str] | None, folder: Path) -> list[ConnectorSpec]:
    specs = load_specs(get_settings(), folder)
    if names:
        unknown = set(names) - {s.name for s in specs}
        if unknown:
            raise ConnectError(f"not in {folder}: {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in names]
    return specs


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]{exc}[/]", markup=True, highlight=False)
    return typer.Exit(1)


@app.command("deploy")
def deploy_cmd(names: Names = None, folder: Folder = CONNECTORS_DIR, timeout: float = 120) -> None:
    """Validate every config (listing all field errors), PUT it, wait until connector and tasks RUN."""
    try:
        for line in deploy(_client(), _specs(names, folder), timeout):
            out.print(line)
    except ConnectError as exc:
        raise _fail(exc) from exc


@app.command("diff")
def diff_cmd(names: Names = None, folder: Folder = CONNECTORS_DIR) -> None:
    """What `deploy` would change (secrets masked); exit 1 when there are differences."""
    try:
        client, changed = _client(), False
        for spec in _specs(names, folder):
            current = client.config(spec.name)
            changes = diff(spec.config, current)
            if not changes:
                continue
            changed = True
            out.print(f"[bold]{spec.name}[/]" + (" (new)" if current is None else ""))
            before = mask({k: v for k, (v, _) in changes.items() if v is not None})
            after = mask({k: v for k, (_, v) in changes.items() if v is not None})
            for key in changes:
                if key in before:
                    out.print(f"  [red]- {key}={before[key]}[/]", highlight=False)
                if key in after:
                    out.print(f"  [green]+ {key}={after[key]}[/]", highlight=False)
    except ConnectError as exc:
        raise _fail(exc) from exc
    if changed:
        raise typer.Exit(1)
    out.print("no differences")


@app.command("status")
def status_cmd() -> None:
    """Table of deployed connectors: type, state, task states, worker."""
    try:
        client = _client()
        table = Table("connector", "type", "state", "tasks", "worker")
        for name in client.connectors():
            status = client.status(name)
            tasks = ", ".join(f"{t['id']}:{t['state']}" for t in status.get("tasks", [])) or "-"
            connector = status["connector"]
            table.add_row(
                name, status.get("type", "?"), connector["state"], tasks, connector.get("worker_id")
            )
    except ConnectError as exc:
        raise _fail(exc) from exc
    out.print(table)


@app.command("restart")
def restart_cmd(
    names: Names = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only restart FAILED connectors/tasks.")] = False,
) -> None:
    """Restart connectors and their tasks."""
    try:
        client = _client()
        for name in names or client.connectors():
            params = {"includeTasks": "true", "onlyFailed": str(failed).lower()}
            client.json("POST", f"/connectors/{name}/restart", params=params)
            out.print(f"{name}: restart requested" + (" (failed only)" if failed else ""))
    except ConnectError as exc:
        raise _fail(exc) from exc


def _simple(verb: str, method: str, names: list[str]) -> None:
    try:
        client = _client()
        for name in names:
            client.json(method, f"/connectors/{name}/{verb}" if verb else f"/connectors/{name}")
            out.print(f"{name}: {verb or 'deleted'}")
    except ConnectError as exc:
        raise _fail(exc) from exc


@app.command("pause")
def pause_cmd(names: Annotated[list[str], typer.Argument(help="Connector names.")]) -> None:
    """Pause connectors."""
    _simple("pause", "PUT", names)


@app.command("resume")
def resume_cmd(names: Annotated[list[str], typer.Argument(help="Connector names.")]) -> None:
    """Resume paused connectors."""
    _simple("resume", "PUT", names)


@app.command("delete")
def delete_cmd(names: Annotated[list[str], typer.Argument(help="Connector names.")]) -> None:
    """Delete connectors (their committed offsets stay in Connect's offsets topic)."""
    _simple("", "DELETE", names)


@app.command("prune")
def prune_cmd(folder: Folder = CONNECTORS_DIR) -> None:
    """Delete deployed connectors that have no JSON file in the folder."""
    try:
        wanted = {s.name for s in load_specs(get_settings(), folder)}
        extra = [name for name in _client().connectors() if name not in wanted]
    except ConnectError as exc:
        raise _fail(exc) from exc
    if extra:
        _simple("", "DELETE", extra)
    else:
        out.print("nothing to prune")
