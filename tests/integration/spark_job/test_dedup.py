"""Nothing counted twice: the KPI query counts each event id once, on the real stack.

Every case compares every campaign and segment KPI of every window with the test's own computation
from the distinct events, and reads the job's own counts (its status file) of the duplicates and late
rows it dropped."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message, Producer

from producer.traffic import TrafficConfig, TrafficModel
from shopstream.clients.kafka import client_config
from shopstream.jobstatus import QueryStatus, read_status
from shopstream.ops import demographics
from shopstream.ops.jobs import SparkJob
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings
from tests.integration.conftest import ReadTopic
from tests.integration.spark_job.kpi_reads import (
    expected_campaign_kpis,
    expected_segment_kpis,
    latest_segment_kpis,
    send,
    wait_for_kpis,
)

MINUTE_MS = 60_000


@pytest.fixture
def kpi_job(job_env: Settings, tmp_path: Path) -> Iterator[SparkJob]:
    """The KPI query alone (`spark run --queries kpis`), 1-second batches, not started yet."""
    checkpoints = tmp_path / "checkpoints"
    process = SparkJob(
        job_env,
        f"test-kpis-{uuid.uuid4().hex[:8]}",
        queries=["kpis"],
        env={
            "SHOPSTREAM_SPARK_UI_PORT": str(job_env.spark.ui_port + 23),
            "SHOPSTREAM_SPARK_KPI_TRIGGER_S": "1",
        },
        log=tmp_path / "job.log",
        checkpoint_dir=checkpoints,
    )
    yield process
    process.remove()


def _status(job: SparkJob) -> QueryStatus:
    status = read_status(job.checkpoint_dir, "kpis", pid=job.pid)
    if status is None:
        raise NotYet("no status of the KPI query of this run yet")
    return status


def _counted(job: SparkJob, rows: int) -> QueryStatus:
    """The status once the query has read ``rows`` rows since the application started."""

    def done() -> QueryStatus:
        status = _status(job)
        if status.input_rows < rows:
            raise NotYet(f"{status.input_rows} of {rows} rows read")
        return status

    return wait_until(done, 120, f"the KPI query read {rows} rows", every_s=0.5)


def _people(settings: Settings) -> dict[int, tuple[Any, ...]]:
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, age, gender, state, country FROM demographics")
        return {int(row[0]): tuple(row) for row in cur.fetchall()}


def _events(seed: int, count: int, start_ms: int) -> list[dict[str, Any]]:
    return TrafficModel(TrafficConfig(seed=seed, start_ms=start_ms, events_per_second=count / 30)).take(count)


def _resend(settings: Settings, originals: list[Message], other_partition: bool = False) -> None:
    """The same records again, byte for byte: on their partition, or on another one with a later
    Kafka timestamp and another key (a different producer's copy)."""
    producer = Producer(client_config(settings.kafka, "admin"))
    for m in originals:
        value, key, partition = m.value(), m.key(), m.partition()
        assert partition is not None
        if other_partition:
            _, stamp = m.timestamp()
            partition = (partition + 1) % settings.topics.partitions
            producer.produce(
                settings.topics.events, value=value, key=b"copy", partition=partition, timestamp=stamp + 7_000
            )
        else:
            producer.produce(settings.topics.events, value=value, key=key, partition=partition)
    assert producer.flush(10) == 0


def _assert_exact(settings: Settings, read_topic: ReadTopic, events: list[dict[str, Any]]) -> None:
    distinct = list({e["event_id"]: e for e in events}.values())
    expected = expected_campaign_kpis(distinct)
    assert wait_for_kpis(settings, read_topic, expected) == expected
    assert latest_segment_kpis(settings, read_topic) == expected_segment_kpis(distinct, _people(settings))


def test_copies_on_any_partition_and_late_duplicates_count_nowhere(
    job_env: Settings, kpi_job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    now_ms = int(time.time() * 1000)
    early = _events(61, 600, now_ms - 8 * MINUTE_MS)  # eight minutes ago: two windows
    kpi_job.start()
    send(settings, early, 2)
    originals = read_topic(settings.topics.events, expected=len(early), timeout_s=60)
    _counted(kpi_job, len(early))

    # exact copies (a producer's retry) and copies on another partition with a later Kafka timestamp
    _resend(settings, originals[:100])
    _resend(settings, originals[100:200], other_partition=True)
    status = _counted(kpi_job, len(early) + 200)
    assert (status.duplicates_dropped, status.late_rows_dropped) == (200, 0)
    dedup = status.dedup_store
    assert dedup is not None and dedup.rows == len(early)  # one key per distinct event within the watermark
    _assert_exact(settings, read_topic, early)

    # later events move the watermark past the early ones: a copy of an early event is late data now
    later = _events(62, 300, now_ms - MINUTE_MS)
    send(settings, later, 2)

    def watermark_past_early() -> QueryStatus:
        s = _status(kpi_job)
        if s.watermark_ms is None or s.watermark_ms <= max(e["event_time"] for e in early):
            raise NotYet(f"watermark {s.watermark_ms}")
        return s

    wait_until(watermark_past_early, 120, "the watermark past the early events", every_s=0.5)
    _resend(settings, originals[:3])
    status = _counted(kpi_job, len(early) + 200 + len(later) + 3)
    assert (status.duplicates_dropped, status.late_rows_dropped) == (200, 3)
    _assert_exact(settings, read_topic, early + later)


def test_copies_sent_after_a_kill_9_and_the_restart_from_the_checkpoint_count_nowhere(
    job_env: Settings, kpi_job: SparkJob, read_topic: ReadTopic
) -> None:
    settings = job_env
    now_ms = int(time.time() * 1000)
    first = _events(71, 800, now_ms - 90_000)
    kpi_job.start()
    send(settings, first, 2)
    originals = read_topic(settings.topics.events, expected=len(first), timeout_s=60)
    _counted(kpi_job, len(first))
    kpi_job.stop(kill=True)  # SIGKILL to the driver and its JVM: the state comes back from the checkpoint

    second = _events(72, 400, now_ms - 60_000)
    send(settings, second, 2)
    _resend(settings, originals[:150])
    _resend(settings, originals[150:300], other_partition=True)
    kpi_job.start()
    status = _counted(kpi_job, len(second) + 300)
    assert status.duplicates_dropped == 300  # the copies, whatever the last batch before the kill was
    _assert_exact(settings, read_topic, first + second)
