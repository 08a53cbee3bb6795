"""Alerts that really fire: three faults injected at once into a monitored pipeline on the real stack,
each alert seen firing in Alertmanager (its API, as `shopstream alerts` reads it), with the rules
exactly as shipped and the stack's default scrape and evaluation intervals (15 s):

- a sink task that cannot authenticate to InfluxDB -> ConnectTaskNotRunning within 2 minutes; the
  config fixed -> the alert clears;
- corrupt records sent for 2 minutes and more -> DeadLettersArriving on the events DLQ;
- the KPI application stopped while events flow -> SparkQueryNoProgress for the kpis query.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.clients.connect import ConnectClient
from tests.integration.monitoring.conftest import Monitored, wait_for

FIRE_WITHIN_S = 120  # the bound for the task alert: 1 minute of `for:`, scrapes, evaluation
SLOW_ALERTS_S = 300  # 2 minutes of dead letters / of no progress, plus a scrape and an evaluation


@dataclass
class Faults:
    sink: str
    fired_s: dict[str, float] = field(default_factory=dict)
    cleared_s: float | None = None
    listed: list[dict[str, object]] = field(default_factory=list)


def _wrong_password(connect: ConnectClient, name: str) -> dict[str, str]:
    config = connect.config(name)
    assert config is not None
    broken = {**config, "influxdb.password": "not-the-password-21"}
    assert connect.request("PUT", f"/connectors/{name}/config", json=broken).status_code == 200
    return config


@pytest.fixture(scope="module")
def faults(monitored: Monitored) -> Iterator[Faults]:
    s = monitored.settings
    connect = ConnectClient(s.connect)
    sink = next(name for name in monitored.trial.connectors if name.endswith("influxdb-events"))
    dlq, kpis = s.topics.events_dlq, monitored.trial.spark[1]
    wanted = {
        "ConnectTaskNotRunning": {"connector": sink, "status": "failed"},
        "DeadLettersArriving": {"topic": dlq},
        "SparkQueryNoProgress": {"query": "kpis", "program": f"{monitored.trial.name}-telemetry"},
    }
    stop = threading.Event()

    def dead_letters() -> None:  # one corrupt record a second, until the end
        while not stop.wait(1.0):
            monitored.corrupt()

    sender = threading.Thread(target=dead_letters, daemon=True)
    original = _wrong_password(connect, sink)
    began = time.monotonic()
    sender.start()
    kpis.stop()  # a clean stop: its target leaves Prometheus, its checkpoint stays
    result = Faults(sink)
    try:
        deadline = began + SLOW_ALERTS_S
        while len(result.fired_s) < len(wanted) and time.monotonic() < deadline:
            for name, labels in wanted.items():
                if name not in result.fired_s and monitored.firing(name, **labels):
                    result.fired_s[name] = time.monotonic() - began
            time.sleep(3)
        listing = CliRunner().invoke(app, ["alerts", "--json"])
        assert listing.exit_code == 0, listing.output
        result.listed = json.loads(listing.output)
        # the fix: the right password again; Connect restarts the task with it
        assert connect.request("PUT", f"/connectors/{sink}/config", json=original).status_code == 200
        fixed = time.monotonic()
        if "ConnectTaskNotRunning" in result.fired_s:
            wait_for(
                "ConnectTaskNotRunning cleared",
                lambda: not monitored.firing("ConnectTaskNotRunning", connector=sink),
                120,
                every_s=3,
            )
            result.cleared_s = time.monotonic() - fixed
        print(f"fired after {result.fired_s} s; task alert cleared {result.cleared_s} s after the fix")
        yield result
    finally:
        stop.set()
        sender.join(10)


def test_a_sink_task_that_cannot_authenticate_fires_within_2_minutes_and_clears_after_the_fix(
    faults: Faults,
) -> None:
    assert faults.fired_s.get("ConnectTaskNotRunning", 1e9) <= FIRE_WITHIN_S, faults.fired_s
    assert faults.cleared_s is not None and faults.cleared_s <= 120


def test_shopstream_alerts_lists_the_firing_alert_with_its_runbook(faults: Faults) -> None:
    task = [a for a in faults.listed if a["name"] == "ConnectTaskNotRunning"]
    assert task, faults.listed
    labels = task[0]["labels"]
    assert isinstance(labels, dict) and labels["connector"] == faults.sink
    assert task[0]["severity"] == "critical" and "shopstream connectors" in str(task[0]["runbook"])


def test_corrupt_records_fire_the_dead_letters_alert(faults: Faults) -> None:
    assert "DeadLettersArriving" in faults.fired_s, faults.fired_s


def test_a_stopped_kpi_application_fires_the_no_progress_alert(faults: Faults) -> None:
    assert "SparkQueryNoProgress" in faults.fired_s, faults.fired_s
