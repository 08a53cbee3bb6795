"""`shopstream chaos FAULT`: one fault injected into a throwaway copy of the running pipeline."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from shopstream.cli.common import err, out, settings_of
from shopstream.ops.faults import CLUSTER_FAULTS, FAULTS

EVERY = FAULTS | CLUSTER_FAULTS  # the cluster profile's refuse a single node, naming the fix
FaultName = StrEnum("FaultName", {name: name for name in EVERY})  # type: ignore[misc]


def chaos(
    ctx: typer.Context,
    fault: Annotated[
        FaultName,
        typer.Argument(help="; ".join(f"{f.name}: {f.doc}" for f in EVERY.values()), case_sensitive=False),
    ],
    rate: Annotated[float, typer.Option(help="Producer events/s.", min=1)] = 2_000,
    duration: Annotated[float, typer.Option(help="Seconds the producer runs.", min=10)] = 60,
    at: Annotated[float, typer.Option(help="Seconds into the run when the fault strikes.", min=1)] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the traffic (the same events every time).")] = 7,
) -> None:
    """Run the pipeline (what `shopstream run` runs, on topics, connectors and a database of its
    own) at RATE for DURATION, inject FAULT at AT, drain, and check that InfluxDB holds every
    acknowledged event exactly once and KPIs that count each exactly once; print the recovery time.

    Exit 1 when anything was lost or counted twice. Everything it created is removed afterwards."""
    from shopstream.ops.faults import run_fault
    from shopstream.ops.trial import Trial

    def report(line: str) -> None:
        err.print(line, markup=False, highlight=False)

    trial = Trial(settings_of(ctx), "chaos", report)
    try:
        report(f"setting up {trial.prefix}: topics, contracts, sink connectors, Spark job, telemetry")
        trial.setup()
        verdict = run_fault(trial, EVERY[fault.value], rate, duration, at, seed, report)
    finally:
        trial.teardown()
    table = Table(title=f"chaos {verdict.fault} at {verdict.rate:,.0f} events/s")
    columns = ("produced", "valid", "points", "lost", "KPI missing", "KPI doubled", "recovery s", "drained s")
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(
        f"{verdict.produced:,}", f"{verdict.valid:,}", f"{verdict.points:,}", f"{verdict.lost:,}",
        f"{verdict.kpi_missing:,}", f"{verdict.kpi_doubled:,}",
        "-" if verdict.recovery_s is None else f"{verdict.recovery_s:g}", f"{verdict.drained_s:g}",
    )  # fmt: skip
    err.print(table)
    out.print_json(json.dumps({**asdict(verdict), "exact": verdict.exact}))
    if not verdict.exact:
        raise typer.Exit(1)
