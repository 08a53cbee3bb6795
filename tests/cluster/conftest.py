"""The cluster profile of the local stack (SHOPSTREAM_STACK_PROFILE=cluster: 3 KRaft brokers, 2 Connect
workers, a Spark standalone master and 2 workers), brought up for this package and down (purged)
afterwards unless it was running before; its ports and state directory are its own, so it runs beside
the single-node stack the other tests use. One pipeline (a Trial) on it is shared by the cluster's
faults, watched like the single node's (tests/faults/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from shopstream.settings import Settings, load_settings
from shopstream.stack.stack import Stack
from tests.faults.conftest import FaultPipeline, Watcher, guarded, shared_pipeline, watching


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
    with shared_pipeline(cluster) as shared:
        yield shared


@pytest.fixture(scope="package")
def cluster_watcher(cluster_pipeline: FaultPipeline) -> Iterator[Watcher]:
    with watching(cluster_pipeline) as watch:
        yield watch


@pytest.fixture(autouse=True)
def cluster_alive(cluster_watcher: Watcher, request: pytest.FixtureRequest) -> Iterator[None]:
    with guarded(cluster_watcher, request):
        yield
