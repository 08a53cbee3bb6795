"""`shopstream alerts`: the alerts firing now, from Alertmanager's API."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from shopstream.cli.common import out, settings_of

# the labels that say where (alertname, severity and Prometheus' own are shown apart or left out)
_SHOWN_APART = {"alertname", "severity", "stack", "job", "__name__"}


def alerts(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
    silenced: Annotated[
        bool, typer.Option("--silenced", help="Also list silenced and inhibited alerts.")
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when any alert fires.")] = False,
) -> None:
    """List the alerts firing now, from Alertmanager (SHOPSTREAM_ALERTMANAGER_URL): name, severity,
    since when, where (connector, query, topic, service, ...), summary and runbook."""
    from shopstream.clients.monitoring import Alertmanager

    settings = settings_of(ctx)
    manager = Alertmanager(settings.alertmanager)
    found = manager.alerts(silenced=silenced)
    if json_out:
        print(json.dumps([asdict(alert) for alert in found], indent=2))
    else:
        table = Table(title=f"alerts firing at {manager.url}")
        for column in ("alert", "severity", "since", "where", "summary", "runbook"):
            table.add_column(column)
        for alert in found:
            where = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _SHOWN_APART)
            style = "red" if alert.severity == "critical" else "yellow"
            table.add_row(
                Text(alert.name, style=style),
                alert.severity,
                alert.starts_at[:19].replace("T", " "),
                where,
                alert.summary,
                alert.runbook,
            )
        table.caption = f"{len(found)} firing" if found else "nothing firing"
        out.print(table)
    if check and found:
        raise typer.Exit(1)
