"""The live terminal view of the running pipeline (rich ``Live``), or plain lines when not a TTY.

Each refresh samples the pipeline (shopstream/ops/monitor.py), writes the sample to InfluxDB as the
``pipeline_stage`` telemetry, reads the KPIs (shopstream/ops/kpi_view.py) and renders one frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shopstream.jobstatus import KPIS
from shopstream.ops.kpi_view import KpiSource, KpiView, SegmentTotal
from shopstream.ops.monitor import Monitor, SinkSample, Snapshot, StageSample
from shopstream.ops.telemetry import Telemetry
from shopstream.settings import Settings

CURRENCY = "€"  # the shop's single currency is EUR (schemas/avro/shop_event.v2.avsc)
LIVE_INTERVAL_S = 2.0
PLAIN_INTERVAL_S = 5.0


def money(cents: float) -> str:
    """Integer cents as currency: 123456 -> '€1,234.56'."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{CURRENCY}{abs(cents) / 100:,.2f}"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


def ago(then: float | None, now: float) -> str:
    if then is None:
        return "-"
    seconds = max(now - then, 0)
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


@dataclass(frozen=True)
class Frame:
    """Everything one refresh shows."""

    snapshot: Snapshot
    kpis: KpiView | None
    kpi_error: str | None = None
    telemetry: str | None = None  # where samples go, or None when telemetry is off
    telemetry_error: str | None = None
    elapsed_s: float = 0.0
    subtitle: str = ""


# --- rich rendering -------------------------------------------------------------------------------
def _dlq_style(stage: StageSample) -> str:
    return "bold white on red" if stage.dlq and stage.records else ""


def stage_table(snapshot: Snapshot) -> Table:
    table = _table("stages")
    for column in ("stage", "topic", "records", "in/s", "consumed", "out/s", "lag", "read by"):
        table.add_column(column, justify="left" if column in ("stage", "topic", "read by") else "right")
    readers: dict[str, list[str]] = {}
    for c in snapshot.consumers:
        readers.setdefault(c.topic, []).append(c.consumer)
    for s in snapshot.stages:
        if not s.exists:
            table.add_row(s.label, s.topic, Text("missing", style="red"), "", "", "", "", "")
            continue
        records = Text(f"{s.records:,}", style=_dlq_style(s) or ("dim" if s.dlq else ""))
        table.add_row(
            Text(s.label, style="red" if s.dlq and s.records else ""),
            s.topic,
            records,
            f"{s.rate_in:,.0f}",
            "-" if s.consumed is None else f"{s.consumed:,}",
            "-" if s.rate_out is None else f"{s.rate_out:,.0f}",
            Text(f"{s.lag:,}", style="yellow" if s.lag else ""),
            ", ".join(readers.get(s.topic, [])) or ("(dead letters)" if s.dlq else "-"),
        )
    return table


def consumers_table(snapshot: Snapshot) -> Table:
    table = _table("consumer lag (committed offsets)")
    for column in ("consumer", "topic", "consumed", "lag", "out/s", "last batch"):
        table.add_column(column, justify="left" if column in ("consumer", "topic") else "right")
    for c in snapshot.consumers:
        batch = (
            f"#{c.committed_batch}, {ago(c.committed_at, snapshot.at)}"
            if c.committed_batch is not None
            else "-"
        )
        table.add_row(c.consumer, c.topic, f"{c.consumed:,}", f"{c.lag:,}", f"{c.rate:,.0f}", batch)
    if not snapshot.consumers:
        table.add_row("(none: no Spark checkpoint and no sink group yet)", "", "", "", "", "")
    return table


def connectors_table(snapshot: Snapshot) -> RenderableType:
    if snapshot.connect_error:
        return Text(f"Kafka Connect: {snapshot.connect_error}", style="red")
    table = _table("connectors")
    for column in ("connector", "type", "state", "tasks"):
        table.add_column(column)
    for c in snapshot.connectors:
        style = "green" if c.running else ("yellow" if c.state == "PAUSED" else "red")
        table.add_row(c.name, c.type, Text(c.state, style=style), ", ".join(c.tasks) or "none")
    if not snapshot.connectors:
        table.add_row("(none deployed)", "", "", "")
    return table


def sink_table(snapshot: Snapshot) -> RenderableType:
    """The InfluxDB sink stage: per sink connector, points written and their rate, lag, DLQ."""
    table = _table("InfluxDB sink (Kafka Connect)")
    for column in ("connector", "measurement", "points", "points/s", "lag", "DLQ", "write p95"):
        table.add_column(column, justify="left" if column in ("connector", "measurement") else "right")
    for k in snapshot.sinks:
        table.add_row(
            Text(k.connector, style="" if k.running else "red"),
            k.measurement,
            "-" if k.points is None else f"{k.points:,}",
            f"{k.rate:,.0f}",
            "-" if k.lag is None else Text(f"{k.lag:,}", style="yellow" if k.lag else ""),
            "-"
            if k.dead_letters is None
            else Text(f"{k.dead_letters:,}", style="bold white on red" if k.dead_letters else ""),
            "-" if k.write_p95_ms is None else f"{k.write_p95_ms:,.0f} ms",
        )
    if not snapshot.sinks:
        table.add_row("(no InfluxDB sink connector deployed)", "", "", "", "", "", "")
    if snapshot.metrics_error:
        return Group(table, Text(f"sink metrics unavailable: {snapshot.metrics_error}", style="dim"))
    return table


def spark_line(snapshot: Snapshot) -> Text:
    app = snapshot.spark
    kpis = snapshot.statuses.get(KPIS)
    left_out = Text("")
    if kpis is not None:
        dropped = f"{kpis.duplicates_dropped:,} duplicates, {kpis.late_rows_dropped:,} late events"
        left_out = Text.assemble("; KPIs left out ", (dropped, "yellow" if kpis.late_rows_dropped else ""))
    if app is None:
        return left_out
    if app.running:
        return Text.assemble(
            ("Spark job ", "bold"),
            ("running", "green"),
            f": {app.name} {app.app_id}, UI {app.ui_url} {app.detail}",
            left_out,
        )
    return Text.assemble(("Spark job ", "bold"), ("not running", "red"), f": {app.detail}", left_out)


def _table(title: str) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)


def _segment_table(title: str, dimension: str, rows: list[SegmentTotal]) -> Table:
    table = _table(title)
    table.add_column(dimension)
    table.add_column("revenue", justify="right")
    table.add_column("purchases", justify="right")
    for row in rows:
        table.add_row(row.value, money(row.revenue_cents), f"{row.purchases:,}")
    return table


def kpi_panel(view: KpiView | None, error: str | None = None) -> RenderableType:
    if view is None:
        return Panel(Text(f"KPIs unavailable: {error}", style="red"), title="KPIs")
    minutes = view.window_ms / 60_000
    span = f"last {len(view.windows)} window(s) of {minutes:g} min"
    closed = view.last_closed
    headline = Text.assemble(
        ("revenue/min ", "bold"),
        (money(view.per_minute(closed.revenue_cents)) if closed else "-", "bold green"),
        f" (window {clock(closed.window_start_ms)})" if closed else "",
        ("   conversion ", "bold"),
        (percent(view.conversion), "bold green"),
        f" (purchases/clicks)   revenue {money(view.revenue_cents)}, {view.purchases:,} purchases",
    )
    per_window = _table("revenue per minute")
    for column in ("window", "revenue/min", "purchases", "conversion"):
        per_window.add_column(column, justify="left" if column == "window" else "right")
    for w in view.windows[-6:]:
        per_window.add_row(
            clock(w.window_start_ms) + (" (latest)" if w is view.windows[-1] else ""),
            money(view.per_minute(w.revenue_cents)),
            f"{w.purchases:,}",
            percent(w.conversion),
        )
    top = _table("top campaigns")
    for column in ("campaign", "revenue", "purchases", "conversion", "avg order"):
        top.add_column(column, justify="left" if column == "campaign" else "right")
    for c in view.top_campaigns:
        top.add_row(
            c.campaign_id, money(c.revenue_cents), f"{c.purchases:,}", percent(c.conversion),
            money(c.avg_order_value_cents),
        )  # fmt: skip
    funnel = Table.grid(padding=(1, 4))
    funnel.add_row(per_window, top)
    segments = Table.grid(padding=(1, 4))
    segments.add_row(
        _segment_table("by gender", "gender", view.by_gender),
        _segment_table("by age band", "age band", view.by_age_band),
        _segment_table("top states", "state", view.by_state),
    )
    body = Group(Text(view.source, style="italic cyan"), headline, funnel, segments)
    return Panel(body, title=f"KPIs ({span})", title_align="left")


def render(frame: Frame) -> RenderableType:
    snap = frame.snapshot
    at = datetime.fromtimestamp(snap.at, UTC).strftime("%H:%M:%S UTC")
    header = Text.assemble(
        ("shopstream pipeline", "bold"), f"  {at}  running {frame.elapsed_s:,.0f} s", f"  {frame.subtitle}"
    )
    parts: list[RenderableType] = [header]
    if snap.kafka_error:
        parts.append(Text(f"Kafka: {snap.kafka_error}", style="red"))
    side = Table.grid(padding=(0, 4))
    side.add_row(consumers_table(snap), connectors_table(snap))
    parts += [stage_table(snap), sink_table(snap), spark_line(snap), side]
    parts.append(kpi_panel(frame.kpis, frame.kpi_error))
    if frame.telemetry:
        if frame.telemetry_error:
            parts.append(Text(f"telemetry to {frame.telemetry} failed: {frame.telemetry_error}", style="red"))
        else:
            parts.append(Text(f"telemetry: each sample written to {frame.telemetry}", style="dim"))
    return Group(*parts)


# --- plain lines (not a TTY) ------------------------------------------------------------------------
def _stage_text(s: StageSample) -> str:
    if not s.exists:
        return f"{s.label} missing"
    text = f"{s.label} {s.records:,} (+{s.rate_in:,.0f}/s"
    if s.consumer:
        text += f", out {s.rate_out or 0:,.0f}/s, lag {s.lag:,}"
    text += ")"
    return f"{text} !DLQ" if s.dlq and s.records else text


def _sink_text(k: SinkSample) -> str:
    text = f"{k.measurement} {'-' if k.points is None else f'{k.points:,}'} points (+{k.rate:,.0f}/s"
    text += f", lag {'-' if k.lag is None else f'{k.lag:,}'})"
    if k.dead_letters:
        text += f" !DLQ {k.dead_letters:,}"
    return text if k.running else f"{text} NOT RUNNING"


def plain_lines(frame: Frame) -> list[str]:
    snap = frame.snapshot
    lines = ["  ".join(_stage_text(s) for s in snap.stages)]
    if snap.sinks:
        lines.append("  influxdb " + "  ".join(_sink_text(k) for k in snap.sinks))
    spark = snap.spark
    status = []
    if spark is not None:
        status.append(f"spark {'running' if spark.running else 'NOT running'}")
    kpis = snap.statuses.get(KPIS)
    if kpis is not None:
        status.append(f"kpis left out {kpis.duplicates_dropped:,} duplicates {kpis.late_rows_dropped:,} late")
    status += [f"{c.name} {c.state}" for c in snap.connectors]
    if snap.connect_error:
        status.append(f"connect: {snap.connect_error}")
    if frame.telemetry_error:
        status.append(f"telemetry failed: {frame.telemetry_error}")
    if status:
        lines.append("  " + "  ".join(status))
    view = frame.kpis
    if view is None:
        lines.append(f"  KPIs unavailable: {frame.kpi_error}")
    else:
        closed = view.last_closed
        top = view.top_campaigns[0] if view.top_campaigns else None

        def first(rows: list[SegmentTotal]) -> str:
            return f"{rows[0].value} {money(rows[0].revenue_cents)}" if rows else "-"

        lines.append(
            f"  {view.source}: revenue/min {money(view.per_minute(closed.revenue_cents)) if closed else '-'}"
            f"  conversion {percent(view.conversion)}"
            f"  top campaign {f'{top.campaign_id} {money(top.revenue_cents)}' if top else '-'}"
            f"  gender {first(view.by_gender)}  age {first(view.by_age_band)}  state {first(view.by_state)}"
        )
    return lines


# --- the loop -----------------------------------------------------------------------------------------
class PipelineView:
    """One sample -> telemetry -> KPIs -> frame; the pieces the loop and `pipeline monitor` share."""

    def __init__(
        self,
        settings: Settings,
        checkpoint_dir: Path | None = None,
        telemetry: bool = True,
        subtitle: str = "",
    ) -> None:
        self.monitor = Monitor(settings, checkpoint_dir)
        self.kpis = KpiSource(settings)
        self.telemetry = Telemetry(settings) if telemetry else None
        self.target = f"InfluxDB {settings.influxdb.database}.pipeline_stage"
        self.subtitle = subtitle
        self.started = time.monotonic()

    def frame(self) -> Frame:
        snapshot = self.monitor.sample()
        if self.telemetry is not None:
            self.telemetry.write(snapshot)
        view, error = None, None
        try:
            view = self.kpis.view(snapshot.kpi_sinks_running, snapshot.sink_installed)
        except Exception as exc:  # the view keeps running; the panel says why KPIs are missing
            error = f"{type(exc).__name__}: {exc}"
        return Frame(
            snapshot,
            view,
            error,
            self.target if self.telemetry else None,
            self.telemetry.error if self.telemetry else None,
            time.monotonic() - self.started,
            self.subtitle,
        )

    def close(self) -> None:
        self.kpis.close()
        if self.telemetry is not None:
            self.telemetry.close()


def watch(
    settings: Settings,
    keep_going: Callable[[], bool],
    console: Console | None = None,
    interval_s: float | None = None,
    checkpoint_dir: Path | None = None,
    telemetry: bool = True,
    subtitle: str = "",
) -> None:
    """Refresh until ``keep_going()`` is false (it may raise to abort): a live view on a terminal,
    plain lines every 5 s otherwise. Ctrl-C propagates to the caller."""
    console = console or Console()
    live = console.is_terminal
    interval = interval_s or (LIVE_INTERVAL_S if live else PLAIN_INTERVAL_S)
    view = PipelineView(settings, checkpoint_dir, telemetry, subtitle)
    try:
        if live:
            with Live(console=console, auto_refresh=False) as screen:
                while keep_going():
                    began = time.monotonic()
                    screen.update(render(view.frame()), refresh=True)
                    time.sleep(max(interval - (time.monotonic() - began), 0.1))
        else:
            while keep_going():
                began = time.monotonic()
                for text in plain_lines(view.frame()):
                    console.print(text, markup=False, highlight=False, soft_wrap=True)
                time.sleep(max(interval - (time.monotonic() - began), 0.1))
    finally:
        view.close()
