"""`shopstream connectors deploy | diff | status | restart | pause | resume | delete | prune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopstream.cli.common import out, settings_of
from shopstream.clients.connect import ConnectClient, diff
from shopstream.connector_file import connectors_dir
from shopstream.errors import ConnectError
from shopstream.ops.deploy import ConnectorSpec, deploy, load_specs, mask

app = typer.Typer(help="Kafka Connect connectors, deployed declaratively from connectors/*.json.")

Names = Annotated[list[str] | None, typer.Argument(help="Connector names (default: all in the folder).")]
Folder = Annotated[
    Path | None,
    typer.Option("--dir", help="Folder of connector JSON files (default: connectors/).", file_okay=False),
]


def _client(ctx: typer.Context) -> ConnectClient:
    return ConnectClient(settings_of(ctx).connect)


def _specs(ctx: typer.Context, names: list[str] | None, folder: Path | None) -> list[ConnectorSpec]:
    specs = load_specs(settings_of(ctx), folder)
    if names:
        unknown = set(names) - {s.name for s in specs}
        if unknown:
            raise ConnectError(f"not in {folder or connectors_dir()}: {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in names]
    return specs


@app.command("deploy")
def deploy_cmd(ctx: typer.Context, names: Names = None, folder: Folder = None, timeout: float = 120) -> None:
    """Validate every config (listing all field errors), PUT it, wait until connector and tasks RUN."""
    for line in deploy(_client(ctx), _specs(ctx, names, folder), timeout):
        out.print(line)


@app.command("diff")
def diff_cmd(ctx: typer.Context, names: Names = None, folder: Folder = None) -> None:
    """What `deploy` would change (secrets masked); exit 1 when there are differences."""
    client, changed = _client(ctx), False
    for spec in _specs(ctx, names, folder):
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
    if changed:
        raise typer.Exit(1)
    out.print("no differences")


@app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Table of deployed connectors: type, state, task states, worker."""
    client = _client(ctx)
    table = Table("connector", "type", "state", "tasks", "worker")
    for name in client.connectors():
        status = client.status(name)
        tasks = ", ".join(f"{t['id']}:{t['state']}" for t in status.get("tasks", [])) or "-"
        connector = status["connector"]
        table.add_row(name, status.get("type", "?"), connector["state"], tasks, connector.get("worker_id"))
    out.print(table)


@app.command("restart")
def restart_cmd(
    ctx: typer.Context,
    names: Names = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only restart FAILED connectors/tasks.")] = False,
) -> None:
    """Restart connectors and their tasks."""
    client = _client(ctx)
    for name in names or client.connectors():
        params = {"includeTasks": "true", "onlyFailed": str(failed).lower()}
        client.json("POST", f"/connectors/{name}/restart", params=params)
        out.print(f"{name}: restart requested" + (" (failed only)" if failed else ""))


def _simple(ctx: typer.Context, verb: str, method: str, names: list[str]) -> None:
    client = _client(ctx)
    for name in names:
        client.json(method, f"/connectors/{name}/{verb}" if verb else f"/connectors/{name}")
        out.print(f"{name}: {verb or 'deleted'}")


@app.command("pause")
def pause_cmd(
    ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Connector names.")]
) -> None:
    """Pause connectors."""
    _simple(ctx, "pause", "PUT", names)


@app.command("resume")
def resume_cmd(
    ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Connector names.")]
) -> None:
    """Resume paused connectors."""
    _simple(ctx, "resume", "PUT", names)


@app.command("delete")
def delete_cmd(
    ctx: typer.Context, names: Annotated[list[str], typer.Argument(help="Connector names.")]
) -> None:
    """Delete connectors (their committed offsets stay in Connect's offsets topic)."""
    _simple(ctx, "", "DELETE", names)


@app.command("prune")
def prune_cmd(ctx: typer.Context, folder: Folder = None) -> None:
    """Delete deployed connectors that have no JSON file in the folder."""
    wanted = {s.name for s in load_specs(settings_of(ctx), folder)}
    extra = [name for name in _client(ctx).connectors() if name not in wanted]
    if extra:
        _simple(ctx, "", "DELETE", extra)
    else:
        out.print("nothing to prune")
