"""The cluster profile's faults (`shopstream chaos broker-kill|worker-kill|spark-worker-kill`), each
injected mid-run into one pipeline on the cluster: a broker leading the events partitions, the
Connect worker running the event sink (kept down until its task runs on the other worker), a Spark
worker with its executors. Each is judged like the single node's seven (tests/faults): every event
Kafka acknowledged is one point in InfluxDB, and every KPI of every window is what the test computes
from those events."""

from __future__ import annotations

import pytest

from shopstream.ops.faults import CLUSTER_FAULTS
from tests.faults.conftest import FaultPipeline
from tests.faults.exact import assert_exact_after

RATE = 1_000  # events/s: the cluster's 16 JVMs share the 2 cores with the pipeline
DURATION_S = 40
AT_S = 12


@pytest.mark.parametrize("name", list(CLUSTER_FAULTS))
def test_a_cluster_fault_loses_and_doubles_nothing(cluster_pipeline: FaultPipeline, name: str) -> None:
    seed = 200 + list(CLUSTER_FAULTS).index(name)
    assert_exact_after(cluster_pipeline, CLUSTER_FAULTS[name], RATE, DURATION_S, AT_S, seed)
