"""The metrics endpoints of the pipeline's processes, without services: what the producer's and the
telemetry sampler's collectors expose (Prometheus' text format, parsed back), how an endpoint
registers itself with the local Prometheus (and takes a free port when its own is taken), and
`shopstream alerts` against an Alertmanager API that answers, and one that does not."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from producer.metrics import ProducerCollector
from producer.sender import Counters, EventSender
from shopstream.jobstatus import QueryStatus, StateStore
from shopstream.metrics import serve, targets_dir
from shopstream.ops.monitor import ConsumerSample, QueryCheckpoint, Snapshot, StageSample
from shopstream.ops.telemetry_metrics import TelemetryCollector
from shopstream.settings import Settings
from tests.unit.shopstream.cli.test_unreachable import closed_endpoints


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class _Sender:
    def __init__(self) -> None:
        self.counters = Counters(
            sent=1000, acked=990, failed=2, invalid=15, violations={"rule violated: x": 12}
        )
        self.broker_errors = 3


def test_producer_counters_come_from_the_senders_counts() -> None:
    registry = CollectorRegistry()
    registry.register(ProducerCollector(cast(EventSender, _Sender())))
    got = samples(registry)
    assert got[("shopstream_producer_events_sent_total", ())] == 1000
    assert got[("shopstream_producer_events_acked_total", ())] == 990
    assert got[("shopstream_producer_events_failed_total", ())] == 2
    assert got[("shopstream_producer_events_refused_total", (("reason", "rule"),))] == 12
    assert got[("shopstream_producer_events_refused_total", (("reason", "schema"),))] == 3
    assert got[("shopstream_producer_broker_errors_total", ())] == 3


def _snapshot(now: float) -> Snapshot:
    stage = StageSample(
        "events", "events", "t.events", False, True, True, 5000, 100.0, "spark:kpis", 4000, 90.0, 1000
    )
    consumers = [
        ConsumerSample("spark:kpis", "events", "t.events", 4000, 1000, 90.0, 7, now - 30),
        ConsumerSample("connect:sink", "enriched", "t.enriched", 100, 20, 50.0),
    ]
    checkpoint = QueryCheckpoint("kpis", 8, 7, now - 30, {"t.events": {0: 4000}}, ("t.events",))
    status = QueryStatus(
        name="kpis", pid=1, state="running", started_at=now - 100, updated_at=now, input_rows=4000,
        duplicates_dropped=5, late_rows_dropped=2, stores=[StateStore(operator="dedupe", rows=321)],
    )  # fmt: skip
    return Snapshot(now, [stage], consumers, [], None, [checkpoint], statuses={"kpis": status})


def test_telemetry_exposes_the_queries_progress_lag_and_kpi_freshness(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = TelemetryCollector(Settings().replace(state_dir=clean_env))
    now = time.time()
    monkeypatch.setattr(collector, "_read_kpi_times", lambda: {"kpi_campaign": now - 42})
    collector.update(_snapshot(now))
    registry = CollectorRegistry()
    registry.register(collector)
    got = samples(registry)
    assert got[("shopstream_spark_query_last_commit_timestamp_seconds", (("query", "kpis"),))] == now - 30
    assert got[("shopstream_spark_query_committed_batch", (("query", "kpis"),))] == 7
    assert got[("shopstream_spark_query_lag_records", (("query", "kpis"),))] == 1000
    assert got[("shopstream_spark_query_running", (("query", "kpis"),))] == 1  # pid 1 lives
    assert got[("shopstream_spark_query_state_rows", (("query", "kpis"),))] == 321
    assert got[("shopstream_spark_query_duplicates_dropped_total", (("query", "kpis"),))] == 5
    assert got[("shopstream_stage_records", (("stage", "events"), ("topic", "t.events")))] == 5000
    assert (
        got[("shopstream_consumer_lag_records", (("consumer", "connect:sink"), ("topic", "t.enriched")))]
        == 20
    )
    assert (
        got[("shopstream_kpi_last_event_timestamp_seconds", (("measurement", "kpi_campaign"),))] == now - 42
    )
    freshness = got[("shopstream_kpi_freshness_seconds", (("measurement", "kpi_campaign"),))]
    assert 42 <= freshness < 45


def test_an_endpoint_registers_its_target_takes_a_free_port_and_unregisters(clean_env: Path) -> None:
    settings = Settings().replace(state_dir=clean_env)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = serve(settings, CollectorRegistry(), port, "producer", "p-1", {"topic": "t"})
        assert endpoint is not None and endpoint.port != port  # its own port was taken
        (target,) = targets_dir(settings).glob("*.json")
        assert json.loads(target.read_text()) == [
            {
                "targets": [f"127.0.0.1:{endpoint.port}"],
                "labels": {"job": "producer", "program": "p-1", "topic": "t"},
            }
        ]
        assert requests.get(f"http://127.0.0.1:{endpoint.port}/metrics", timeout=5).status_code == 200
        endpoint.close()
        assert not list(targets_dir(settings).glob("*.json"))
    assert (
        serve(Settings().replace(state_dir=clean_env, monitoring=False), CollectorRegistry(), 0, "p", "q")
        is None
    )


ALERT = {
    "labels": {"alertname": "ConnectTaskNotRunning", "severity": "critical", "connector": "c1", "task": "0"},
    "annotations": {
        "summary": "Task 0 of connector c1 is failed",
        "runbook": "`shopstream connectors status`",
    },
    "startsAt": "2026-12-06T15:00:00.000Z",
    "status": {"state": "active"},
}


@pytest.fixture
def alertmanager_api() -> Iterator[str]:
    """An HTTP server answering Alertmanager's /api/v2/alerts with one alert."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps([ALERT] if self.path.startswith("/api/v2/alerts") else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _alerts(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shopstream", "alerts", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=15, check=False)


def test_alerts_lists_what_alertmanager_says_is_firing(alertmanager_api: str, tmp_path: Path) -> None:
    env = closed_endpoints(tmp_path) | {"SHOPSTREAM_ALERTMANAGER_URL": alertmanager_api}
    listed = _alerts(["--json"], env)
    assert listed.returncode == 0, listed.stderr
    (alert,) = json.loads(listed.stdout)
    assert (alert["name"], alert["severity"], alert["labels"]["connector"]) == (
        "ConnectTaskNotRunning",
        "critical",
        "c1",
    )
    assert alert["runbook"] == "`shopstream connectors status`"
    table = _alerts([], env)
    assert "ConnectTaskNotRunning" in table.stdout and "connector=c1, task=0" in table.stdout
    assert "1 firing" in table.stdout
    assert _alerts(["--check"], env).returncode == 1


def test_alerts_with_alertmanager_unreachable_is_one_line_naming_address_and_setting(tmp_path: Path) -> None:
    env = closed_endpoints(tmp_path) | {"SHOPSTREAM_ALERTMANAGER_URL": "http://127.0.0.1:1"}
    result = _alerts([], env)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: Alertmanager unreachable at http://127.0.0.1:1 (connection refused)",
        "hint: is it running (`shopstream stack status`) and is SHOPSTREAM_ALERTMANAGER_URL right?",
    ]


def test_a_program_taken_out_of_the_supervisor_leaves_no_target(clean_env: Path) -> None:
    from shopstream.metrics import register_target, unregister_program

    settings = Settings().replace(state_dir=clean_env)
    register_target(settings, "spark", "t-kpis", 4041, {"program": "t-kpis"})  # its driver was killed
    kept = register_target(settings, "spark", "t-kpis-2", 4042, {"program": "t-kpis-2"})
    unregister_program(settings, "t-kpis")
    assert list(targets_dir(settings).glob("*.json")) == [kept]
