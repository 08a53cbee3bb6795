"""One monitored pipeline for the monitoring tests: a Trial (what `shopstream run` runs: the Spark job
as two applications, the three sink connectors, the telemetry sampler, on resources of its own) with
its producer at a steady rate, scraped by the local stack's Prometheus. One for the package: the
queries are checked on the healthy pipeline first (test_1_*), then the faults break it (test_2_*)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Producer

from shopstream.clients.kafka import client_config
from shopstream.clients.monitoring import Alert, Alertmanager, Prometheus
from shopstream.ops.jobs import Job
from shopstream.ops.trial import Trial
from shopstream.settings import Settings
from shopstream.stack.stack import Stack

RATE = 400  # events/s: enough for every metric, little CPU
UI_OFFSET = 61  # the trial's Spark UIs: the settings' UI port + 61, + 62


@dataclass
class Monitored:
    settings: Settings  # the trial's (its topic names, its database)
    trial: Trial
    producer: Job
    prometheus: Prometheus
    alertmanager: Alertmanager

    def corrupt(self, count: int = 1) -> None:
        """Records the enrichment dead-letters (bad magic byte), into the trial's events topic."""
        producer = Producer(client_config(self.settings.kafka, "admin"))
        for _ in range(count):
            producer.produce(self.settings.topics.events, value=b"\x01not-confluent-framed", key=b"bad")
        assert producer.flush(10) == 0

    def firing(self, name: str, **labels: str) -> list[Alert]:
        return [
            a
            for a in self.alertmanager.alerts()
            if a.name == name and all(a.labels.get(k) == v for k, v in labels.items())
        ]


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 5.0) -> float:
    """Seconds until ``check()`` is truthy; fails naming ``what`` after ``timeout_s``."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout_s:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)
    return time.monotonic() - began


@pytest.fixture(scope="package")
def monitored(stack: Stack, settings: Settings) -> Iterator[Monitored]:
    if not settings.monitoring.enabled:
        pytest.fail("SHOPSTREAM_MONITORING=false: the local stack runs no Prometheus to test")
    trial = Trial(settings, "test")
    producer: Job | None = None
    try:
        trial.setup(telemetry_s=5, ui_port=settings.spark.ui_port + UI_OFFSET)
        producer = trial.producer(RATE, 1800, seed=21)
        producer.start()
        run = Monitored(
            trial.settings,
            trial,
            producer,
            Prometheus(settings.prometheus),
            Alertmanager(settings.alertmanager),
        )
        run.corrupt(5)  # the events DLQ gets records: its per-topic broker metrics exist
        yield run
    finally:
        if producer is not None:
            producer.remove()
        trial.teardown()
