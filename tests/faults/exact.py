"""The verdict every fault test asserts: nothing lost, nothing counted twice, the rate kept, and every
KPI of every window equal to what the test computes from the events Kafka acknowledged."""

from __future__ import annotations

import contextlib

from shopstream.errors import Timeout
from shopstream.ops import demographics
from shopstream.ops.faults import Fault, run_fault, source_events
from shopstream.retry import wait_until
from tests import oracle
from tests.faults.conftest import FaultPipeline
from tests.integration.e2e.influx_reads import campaign_points, segment_points

SETTLE_S = 60


def assert_exact_after(
    pipeline: FaultPipeline, fault: Fault, rate: float, duration_s: float, at_s: float, seed: int
) -> None:
    verdict = run_fault(pipeline.trial, fault, rate, duration_s, at_s, seed, report=print)
    print(f"{fault.name}: recovery {verdict.recovery_s} s, drained {verdict.drained_s} s after the producer")
    assert verdict.produced >= rate * duration_s * 0.9  # the producer kept its rate through the fault
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
