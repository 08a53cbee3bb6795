"""`shopstream pipeline status`: the health of every stage in one table (or JSON).

ok / warn / fail per check; the pipeline is healthy when nothing fails. What is checked:

* each stack service: the stack's own health probe (a real API call, as `stack status`), with
  the supervisor's restart count and last exit;
* each pipeline program under the stack's supervisor (the Spark applications, the producer, ...):
  its state, restarts and last exit; a program the supervisor gave up on fails;
* each topic: exists, records, rate (two samples ``interval`` seconds apart); dead letters warn;
* the Spark job: its UI's REST API (``/api/v1/applications`` on settings.spark.ui_port) lists a
  running application; each query's last committed micro-batch from its checkpoint;
* consumer lag: Spark queries from their checkpoint offsets, Connect sink groups (and ``--group``)
  from their committed offsets, against the topics' end offsets; fails only above ``max_lag``;
* connectors: each one in connectors/*.json deployed with connector and tasks RUNNING.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from rich.table import Table
from rich.text import Text

from shopstream.clients.kafka import check_reachable
from shopstream.errors import ConnectError, KafkaUnavailable, ResourceMissing
from shopstream.jobstatus import KPIS, QUERIES, QueryStatus
from shopstream.ops.deploy import load_specs
from shopstream.ops.monitor import Monitor, Snapshot
from shopstream.settings import Settings
from shopstream.stack.restarts import ProgramRecord
from shopstream.stack.stack import MONITORING_SERVICES, Stack

Health = Literal["ok", "warn", "fail"]
_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@dataclass(frozen=True)
class Check:
    component: str  # service | program | kafka | topic | spark | consumer | connector
    name: str
    health: Health
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusReport:
    checked_at: float
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(c.health != "fail" for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checked_at": datetime.fromtimestamp(self.checked_at, UTC).isoformat(),
            "checks": [asdict(c) for c in self.checks],
        }


def _restarts(record: ProgramRecord | None, now: float) -> tuple[str, dict[str, Any]]:
    """The supervisor's books as a detail suffix and as JSON fields."""
    if record is None:
        return "", {"restarts": None, "gave_up": None, "restart_in_s": None, "last_exit": None}
    suffix = f"; restarts {record.restarts_text(now)}" if record.restarts or record.gave_up else ""
    if record.last_exit is not None:
        suffix += f"; last exit {record.last_exit_text()}"
    return suffix, record.summary(now)


def service_checks(settings: Settings) -> list[Check]:
    checks = []
    now = time.time()
    for row in Stack(settings).status():
        detail = f"{row.state}, {row.version}" if row.healthy else f"{row.state}: {row.detail}"
        suffix, books = _restarts(row.record, now)
        data = {"state": row.state, "pid": row.pid, "ports": row.ports, "version": row.version, **books}
        # the pipeline runs without its monitoring (Prometheus, Alertmanager, the stack exporter)
        down: Health = "warn" if row.name in MONITORING_SERVICES else "fail"
        checks.append(Check("service", row.name, "ok" if row.healthy else down, detail + suffix, data))
    return checks


def program_checks(settings: Settings) -> list[Check]:
    """The pipeline's programs under the stack's supervisor (anything but the stack's services)."""
    stack = Stack(settings)
    supervisor = stack.supervisor
    services = {svc.name for svc in stack.services}
    checks = []
    now = time.time()
    for name in supervisor.programs():
        if name in services:
            continue
        state, record = supervisor.state(name), supervisor.record(name)
        failure = supervisor.failure(name)
        suffix, books = _restarts(record, now)
        health: Health
        if failure is None:
            health = "ok" if state == "RUNNING" else "warn"  # starting, or being restarted
        elif state == "FATAL" or (record is not None and record.gave_up):
            health = "fail"  # the supervisor gave up on it
        elif state == "EXITED" and int(supervisor.info(name)["exitstatus"]) != 0:
            health = "fail"  # crashed, and not supervised
        else:
            health = "warn"  # stopped, or finished (exit 0)
        detail = (failure or state) + suffix
        data = {"state": state, "pid": supervisor.pid(name), **books}
        checks.append(Check("program", name, health, detail, data))
    return checks


def topic_checks(snapshot: Snapshot) -> list[Check]:
    if snapshot.kafka_error:
        return [Check("topic", s.stage, "fail", f"Kafka: {snapshot.kafka_error}") for s in snapshot.stages]
    checks = []
    for s in snapshot.stages:
        data = {"topic": s.topic, "exists": s.exists, "records": s.records, "rate": s.rate_in}
        if not s.exists:
            checks.append(Check("topic", s.stage, "fail", f"{s.topic} missing (`shopstream stack up`)", data))
            continue
        detail = f"{s.topic}: {s.records:,} records, {s.rate_in:,.1f}/s"
        health: Health = "ok"
        if s.dlq and s.records:
            health, detail = "warn", f"{detail}: dead letters"
        checks.append(Check("topic", s.stage, health, detail, data))
    return checks


def spark_checks(snapshot: Snapshot) -> list[Check]:
    app = snapshot.spark
    checks = []
    if app is not None:
        data = {"running": app.running, "ui": app.ui_url, "app_id": app.app_id, "name": app.name}
        if app.running:
            detail = f"{app.name} {app.app_id} at {app.ui_url} {app.detail}".strip()
            checks.append(Check("spark", "job", "ok", detail, data))
        else:
            checks.append(Check("spark", "job", "fail", app.detail, data))
    by_name = {q.query: q for q in snapshot.queries}
    for name in sorted({*QUERIES, *by_name}):
        query = by_name.get(name)
        if query is None:
            checks.append(Check("spark", f"query {name}", "warn", "no checkpoint yet", {"query": name}))
            continue
        data = {
            "query": name,
            "topics": list(query.topics),
            "latest_batch": query.latest_batch,
            "committed_batch": query.committed_batch,
            "committed_at": query.committed_at,
        }
        if query.committed_batch is None:
            checks.append(Check("spark", f"query {name}", "warn", "no batch committed yet", data))
            continue
        age = snapshot.at - (query.committed_at or snapshot.at)
        detail = f"batch {query.committed_batch} committed {age:,.0f} s ago"
        health: Health = "ok"
        status = snapshot.statuses.get(name)
        if status is not None:
            data["status"] = status.model_dump(mode="json")
            detail += f"; {status_text(status)}"
            if status.state == "failed":
                health = "fail"
        checks.append(Check("spark", f"query {name}", health, detail, data))
    return checks


def status_text(status: QueryStatus) -> str:
    """What the job says of a query: its state, and for the KPIs what it left out (since its start)."""
    text: str = status.state
    if status.state == "failed" and status.last_failure is not None:
        text += f" ({status.last_failure.kind}: {status.last_failure.message[:160]})"
    if status.name == KPIS:
        dropped = status.duplicates_dropped, status.late_rows_dropped
        text += f", {dropped[0]:,} duplicates and {dropped[1]:,} late events left out"
        dedup = status.dedup_store
        if dedup is not None:
            text += f", {dedup.rows:,} event ids remembered"
    return text


def consumer_checks(snapshot: Snapshot, max_lag: int | None = None) -> list[Check]:
    checks = []
    for c in snapshot.consumers:
        health: Health = "fail" if max_lag is not None and c.lag > max_lag else "ok"
        detail = f"{c.topic}: lag {c.lag:,}, consumed {c.consumed:,}, {c.rate:,.1f}/s"
        if health == "fail":
            detail += f" (above --max-lag {max_lag:,})"
        data = {"topic": c.topic, "stage": c.stage, "lag": c.lag, "consumed": c.consumed, "rate": c.rate}
        checks.append(Check("consumer", c.consumer, health, detail, data))
    return checks


def connector_checks(settings: Settings, snapshot: Snapshot) -> list[Check]:
    if snapshot.connect_error:
        return [Check("connector", "Kafka Connect", "fail", snapshot.connect_error)]
    try:
        expected = [spec.name for spec in load_specs(settings)]
    except (ConnectError, ResourceMissing) as exc:
        return [Check("connector", "connectors/*.json", "fail", str(exc))]
    deployed = {c.name: c for c in snapshot.connectors}
    checks = []
    for name in sorted({*expected, *deployed}):
        state = deployed.get(name)
        if state is None:
            detail = "not deployed (`shopstream connectors deploy`)"
            checks.append(Check("connector", name, "fail", detail, {"deployed": False}))
            continue
        data = {"deployed": True, "type": state.type, "state": state.state, "tasks": list(state.tasks)}
        detail = f"{state.type} {state.state}, tasks {', '.join(state.tasks) or 'none'}"
        if state.trace:
            detail += f": {state.trace}"
        health: Health = "ok"
        if not state.running:
            # a connector of this project must run; others (deployed by hand) only warn
            health = "warn" if state.state == "PAUSED" or name not in expected else "fail"
        checks.append(Check("connector", name, health, detail, data))
    return checks


def collect(
    settings: Settings,
    checkpoint_dir: Path | None = None,
    interval_s: float = 1.0,
    groups: Sequence[str] = (),
    max_lag: int | None = None,
) -> StatusReport:
    """Every check; topic and consumer rates from two samples ``interval_s`` apart (0: no rates).
    Without Kafka nothing of the topics, lag or Spark progress can be read: one failed check says
    where Kafka was looked for, next to the services' and programs' checks."""
    try:
        check_reachable(settings.kafka)
    except KafkaUnavailable as exc:
        unreachable = Check("kafka", settings.kafka.bootstrap_servers, "fail", str(exc))
        return StatusReport(time.time(), [*service_checks(settings), *program_checks(settings), unreachable])
    monitor = Monitor(settings, checkpoint_dir, groups, rate_window_s=0)
    snapshot = monitor.sample()
    if interval_s > 0:
        time.sleep(interval_s)
        snapshot = monitor.sample()
    checks = [
        *service_checks(settings),
        *program_checks(settings),
        *topic_checks(snapshot),
        *spark_checks(snapshot),
        *consumer_checks(snapshot, max_lag),
        *connector_checks(settings, snapshot),
    ]
    return StatusReport(snapshot.at, checks)


def status_table(report: StatusReport) -> Table:
    verdict = "[green]healthy[/]" if report.healthy else "[bold red]unhealthy[/]"
    table = Table(title=f"shopstream pipeline: {verdict}")
    for column in ("component", "name", "health", "detail"):
        table.add_column(column)
    for c in report.checks:
        table.add_row(c.component, c.name, Text(c.health, style=_STYLE[c.health]), c.detail)
    return table
