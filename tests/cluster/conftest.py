"""The cluster profile of the local stack (SHOPSTREAM_STACK_PROFILE=cluster: 3 KRaft brokers, 2 Connect
workers, a Spark standalone master and 2 workers), brought up for this package and down (purged)
afterwards unless it was running before; its ports and state directory are its own, so it runs beside
the single-node stack the other tests use. One pipeline (a Trial) on it is shared by the cluster's
faults, watched like the single node's (tests/faults/conftest.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from shopstream.clients.connect import ConnectClient
from shopstream.ops.trial import Trial
from shopstream.settings import Settings, load_settings
from shopstream.stack.stack import Stack
from tests.faults.conftest import UI_OFFSET, FaultPipeline, Watcher


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.path):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="package")
def cluster() -> Iterator[Settings]:
    settings = load_settings({**os.environ, "SHOPSTREAM_STACK_PROFILE": "cluster"})
    stack = Stack(settings)
    was_running = stack.supervisor.is_running()
    stack.up()
    yield settings
    if not was_running and os.environ.get("SHOPSTREAM_KEEP_STACK") != "1":
        stack.down(purge=True)


@pytest.fixture(scope="package")
def cluster_pipeline(cluster: Settings) -> Iterator[FaultPipeline]:
    trial = Trial(cluster, "test")
    try:
        trial.setup(telemetry_s=2, ui_port=cluster.spark.ui_port + UI_OFFSET)
        yield FaultPipeline(trial)
    finally:
        trial.teardown()


@pytest.fixture(scope="package")
def cluster_watcher(cluster_pipeline: FaultPipeline) -> Iterator[Watcher]:
    watch = Watcher(cluster_pipeline.trial)
    watch.poll(ConnectClient(cluster_pipeline.trial.root.connect))
    watch.start()
    yield watch
    watch.stop()


@pytest.fixture(autouse=True)
def cluster_alive(cluster_watcher: Watcher, request: pytest.FixtureRequest) -> Iterator[None]:
    """As the single node's fault tests: a dead part of the shared pipeline fails a test at once."""
    cluster_watcher.poll(ConnectClient(cluster_watcher.trial.root.connect))
    dead = cluster_watcher.dead()
    if dead:
        pytest.fail("the shared pipeline has a dead part: " + "; ".join(map(str, dead)), pytrace=False)
    began, cluster_watcher.test = time.time(), request.node.name
    yield
    text = "\n".join(str(c) for c in cluster_watcher.since(began)) or "no state change"
    print(f"pipeline changes during {request.node.name}:\n{text}")
