"""Each fault of `shopstream chaos`, injected mid-run into the running pipeline: afterwards InfluxDB
holds every event Kafka acknowledged exactly once, and every KPI of every window equals what the
test computes from those events; the pipeline got back to its rate (the recovery time is printed).

The faults run one after another on one pipeline, each with traffic of its own (its own seed): the
checks cover everything produced so far, so a fault that left a hole or a double count would fail
every later check too.
"""

from __future__ import annotations

import pytest

from shopstream.ops.faults import FAULTS
from tests.faults.conftest import FaultPipeline
from tests.faults.exact import assert_exact_after

RATE = 1_500  # events/s
DURATION_S = 40
AT_S = 12


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_loses_nothing_and_counts_nothing_twice(pipeline: FaultPipeline, name: str) -> None:
    seed = 100 + list(FAULTS).index(name)
    assert_exact_after(pipeline, FAULTS[name], RATE, DURATION_S, AT_S, seed)
