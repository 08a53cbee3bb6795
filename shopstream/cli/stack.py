"""`shopstream stack up | down | status | logs`: the local stack of real services."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from shopstream.cli.common import out, settings_of
from shopstream.stack.stack import ServiceStatus, Stack

app = typer.Typer(
    help="Run the local stack (Kafka, Apicurio Registry, Connect, MariaDB, InfluxDB; Prometheus, "
    "Alertmanager) as processes."
)


def _stack(ctx: typer.Context) -> Stack:
    return Stack(settings_of(ctx))


def status_table(rows: list[ServiceStatus], listener: str = "") -> Table:
    """The services' table; ``listener`` is the supervision listener's state (empty: not asked)."""
    table = Table(title="shopstream local stack")
    columns = ("service", "state", "pid", "port", "healthy", "version", "RSS", "restarts", "last exit")
    for column in columns:
        table.add_column(column, justify="right" if column in ("pid", "RSS", "restarts") else "left")
    now = time.time()
    for row in rows:
        record = row.record
        restarts = record.restarts_text(now) if record else "-"
        table.add_row(
            row.name,
            row.state,
            str(row.pid or "-"),
            ",".join(map(str, row.ports)),
            "[green]yes[/]" if row.healthy else Text.assemble(("no", "red"), f" {row.detail}"),
            row.version or "-",
            f"{row.rss_bytes / 2**20:,.0f} MiB" if row.rss_bytes else "-",
            Text(restarts, style="red" if record and record.gave_up else ""),
            record.last_exit_text() if record else "-",
        )
    total = sum(row.rss_bytes for row in rows)
    table.caption = f"total RSS {total / 2**20:,.0f} MiB"
    if listener and listener != "RUNNING":
        table.caption += f"; [red]supervision listener {listener}: restarts are not counted or limited[/]"
    return table


@app.command()
def up(ctx: typer.Context) -> None:
    """Fetch missing artefacts, then start every service and wait until each is healthy (idempotent)."""
    stack = _stack(ctx)
    stack.up()
    out.print(status_table(stack.status(), stack.listener_state()))


@app.command()
def down(
    ctx: typer.Context,
    purge: Annotated[bool, typer.Option("--purge", help="Also delete all data and logs.")] = False,
) -> None:
    """Stop what the stack started: its jobs first, then the services (data is kept unless --purge)."""
    _stack(ctx).down(purge=purge)


@app.command()
def status(ctx: typer.Context) -> None:
    """Table of services: pid, port, health (a real API call), version, RSS, restarts by the supervisor
    and the last exit. Exit 1 if any is unhealthy."""
    stack = _stack(ctx)
    rows = stack.status()
    out.print(status_table(rows, stack.listener_state()))
    if not all(row.healthy for row in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    ctx: typer.Context,
    service: Annotated[
        str,
        typer.Argument(
            help="mariadb, influxdb, kafka, registry, connect, alertmanager, prometheus, exporter"
        ),
    ],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many last lines.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print the last lines of a service's log (under the state dir)."""
    stack = _stack(ctx)
    try:
        out.print(stack.tail(service, lines), markup=False, highlight=False)
    except KeyError as err:
        raise typer.BadParameter(str(err.args[0])) from err
    if follow:
        log = stack.ctx.paths.log(service)
        with log.open(errors="replace") as handle:
            handle.seek(0, 2)
            while True:
                line = handle.readline()
                if line:
                    out.print(line.rstrip("\n"), markup=False, highlight=False)
                else:
                    time.sleep(0.3)
