"""Health verdicts of `pipeline status` from static samples (no services)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from shopstream.ops.health import (
    Check,
    StatusReport,
    connector_checks,
    consumer_checks,
    spark_checks,
    status_table,
    topic_checks,
)
from shopstream.ops.monitor import (
    ConnectorState,
    ConsumerSample,
    QueryCheckpoint,
    Snapshot,
    SparkApp,
    StageSample,
)
from shopstream.settings import Settings

AT = 1_795_489_900.0


def _stage(name: str, records: int, exists: bool = True, dlq: bool = False) -> StageSample:
    return StageSample(name, name, f"shop.{name}", dlq, True, exists, records, 2.0, None, None, None, 0)


def _snapshot(**kw: object) -> Snapshot:
    values: dict[str, object] = {
        "at": AT,
        "stages": [_stage("events", 10), _stage("events_dlq", 2, dlq=True), _stage("kpi_dlq", 0, dlq=True)],
        "consumers": [],
        "connectors": [],
        "spark": SparkApp("http://127.0.0.1:4040", False, detail="no Spark UI"),
        "queries": [],
    }
    values |= kw
    return Snapshot(**values)  # type: ignore[arg-type]


def _health(checks: list[Check]) -> dict[str, str]:
    return {c.name: c.health for c in checks}


def test_topics_missing_fail_and_dead_letters_warn() -> None:
    snap = _snapshot(stages=[*_snapshot().stages, _stage("enriched", 0, exists=False)])
    checks = topic_checks(snap)
    assert _health(checks) == {"events": "ok", "events_dlq": "warn", "kpi_dlq": "ok", "enriched": "fail"}
    assert checks[0].data == {"topic": "shop.events", "exists": True, "records": 10, "rate": 2.0}
    assert checks[1].detail == "shop.events_dlq: 2 records, 2.0/s: dead letters"
    down = topic_checks(_snapshot(kafka_error="broker down"))
    assert {c.health for c in down} == {"fail"} and down[0].detail == "Kafka: broker down"


def test_spark_job_and_queries() -> None:
    enrich = QueryCheckpoint("enrich", 8, 7, AT - 3, {"shop.events": {0: 1}}, ("shop.events",))
    pending = QueryCheckpoint("kpis", 0, None, None, {}, ("shop.events.enriched",))
    checks = spark_checks(_snapshot(queries=[enrich, pending]))
    assert _health(checks) == {"job": "fail", "query enrich": "ok", "query kpis": "warn"}
    assert checks[1].detail == "batch 7 committed 3 s ago"
    running = spark_checks(_snapshot(spark=SparkApp("http://x", True, "local-1", "shopstream")))
    assert running[0].health == "ok" and running[0].detail == "shopstream local-1 at http://x"


def test_lag_fails_only_above_max_lag() -> None:
    consumers = [ConsumerSample("spark:enrich", "events", "shop.events", 90, 10, 5.0)]
    assert consumer_checks(_snapshot(consumers=consumers))[0].health == "ok"
    [check] = consumer_checks(_snapshot(consumers=consumers), max_lag=9)
    assert check.health == "fail" and check.detail.endswith("(above --max-lag 9)")
    assert check.data == {"topic": "shop.events", "stage": "events", "lag": 10, "consumed": 90, "rate": 5.0}


def test_connectors_of_the_project_must_run(clean_env: Path) -> None:
    settings = Settings()
    sinks = [f"shopstream-influxdb-{name}" for name in ("events", "kpi-campaign", "kpi-segment")]
    project = ["shopstream-demographics-source", *sinks]
    assert _health(connector_checks(settings, _snapshot())) == dict.fromkeys(project, "fail")
    failed = ConnectorState("shopstream-demographics-source", "source", "RUNNING", ("FAILED",), None, "boom")
    extra = ConnectorState("hand-made", "sink", "PAUSED", ("PAUSED",), "connect-hand-made")
    checks = connector_checks(settings, _snapshot(connectors=[failed, extra]))
    assert _health(checks) == {"hand-made": "warn", **dict.fromkeys(project, "fail")}
    assert next(c for c in checks if c.name == "shopstream-demographics-source").detail == (
        "source RUNNING, tasks FAILED: boom"
    )
    ok = [
        ConnectorState(name, "sink" if name in sinks else "source", "RUNNING", ("RUNNING",), None)
        for name in project
    ]
    assert _health(connector_checks(settings, _snapshot(connectors=ok))) == dict.fromkeys(project, "ok")
    assert connector_checks(settings, _snapshot(connect_error="unreachable"))[0].health == "fail"


def test_report_is_healthy_unless_something_fails() -> None:
    ok, warn = Check("topic", "a", "ok", "fine"), Check("topic", "b", "warn", "dead letters")
    report = StatusReport(AT, [ok, warn])
    assert report.healthy
    assert report.as_json() == {
        "healthy": True,
        "checked_at": "2026-11-24T03:11:40+00:00",
        "checks": [
            {"component": "topic", "name": "a", "health": "ok", "detail": "fine", "data": {}},
            {"component": "topic", "name": "b", "health": "warn", "detail": "dead letters", "data": {}},
        ],
    }
    bad = StatusReport(AT, [ok, Check("service", "kafka", "fail", "down")])
    assert not bad.healthy
    console = Console(width=120, record=True, color_system=None)
    console.print(status_table(bad))
    text = console.export_text()
    assert "shopstream pipeline: unhealthy" in text
    assert any(
        line.replace("│", " ").split() == ["service", "kafka", "fail", "down"] for line in text.splitlines()
    )
