"""Each fault of `shopstream chaos`, injected mid-run into the running pipeline: afterwards InfluxDB
holds every event Kafka acknowledged exactly once, and every KPI of every window equals what the
test computes from those events; the pipeline got back to its rate (the recovery time is printed).

The faults run one after another on one pipeline, each with traffic of its own (its own seed): the
checks cover everything produced so far, so a fault that left a hole or a double count would fail
every later check too.
"""

from __future__ import annotations

import contextlib

import pytest

from shopstream.errors import Timeout
from shopstream.ops import demographics
from shopstream.ops.faults import FAULTS, run_fault, source_events
from shopstream.retry import wait_until
from tests import oracle
from tests.faults.conftest import FaultPipeline
from tests.integration.e2e.influx_reads import campaign_points, segment_points

RATE = 1_500  # events/s
DURATION_S = 40
AT_S = 12
SETTLE_S = 60


@pytest.mark.parametrize("name", list(FAULTS))
def test_a_fault_loses_nothing_and_counts_nothing_twice(pipeline: FaultPipeline, name: str) -> None:
    seed = 100 + list(FAULTS).index(name)
    verdict = run_fault(pipeline.trial, FAULTS[name], RATE, DURATION_S, AT_S, seed, report=print)
    print(f"{name}: recovery {verdict.recovery_s} s, drained {verdict.drained_s} s after the producer")
    assert verdict.produced >= RATE * DURATION_S * 0.9  # the producer kept its rate through the fault
    assert (verdict.lost, verdict.kpi_missing, verdict.kpi_doubled) == (0, 0, 0)
    assert verdict.points == verdict.valid  # every acknowledged event exactly once
    assert verdict.recovery_s is not None, "the pipeline never got back to its rate"

    # the decoder gives timestamps as datetimes; the oracle counts in epoch ms, as the contract does
    acknowledged = source_events(pipeline.trial)
    events = [{**e, "event_time": int(e["event_time"].timestamp() * 1000)} for e in acknowledged]
    assert len(events) == verdict.valid
    with demographics.connect(pipeline.settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, age, gender, state, country FROM demographics")
        people = {int(row[0]): tuple(row) for row in cur.fetchall()}
    campaigns, segments = oracle.campaign_kpis(events), oracle.segment_kpis(events, people)
    # the two KPI families reach InfluxDB through two sink connectors: one may land a moment later
    with contextlib.suppress(Timeout):
        wait_until(lambda: segment_points(pipeline) == segments, SETTLE_S, "segment KPIs settled", every_s=2)
    assert campaign_points(pipeline) == campaigns
    assert segment_points(pipeline) == segments
