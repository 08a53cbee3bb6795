"""The recovery time of a fault run, from backlog samples (no services)."""

from __future__ import annotations

from shopstream.ops.faults import FAULTS, Backlog


def _samples(backlogs: list[int]) -> Backlog:
    # one sample a second: (t, produced, landed) with 1,000 events/s produced
    return Backlog([(float(t), 1_000 * t, 1_000 * t - b) for t, b in enumerate(backlogs)])


def test_recovery_is_when_the_backlog_is_back_within_bounds_for_good() -> None:
    # 500 before the fault at t=10; allowed = max(2 x 500, 2 s x 1,000/s) = 2,000
    backlog = _samples([500] * 10 + [500, 3_000, 9_000, 15_000, 2_500, 1_800, 2_100, 900, 600, 500])
    assert backlog.recovery_s(fault_at=10, rate=1_000) == 7.0  # last out of bounds at t=16, back at 17


def test_a_fault_without_a_visible_backlog_recovers_at_once_and_one_that_never_recovers_is_none() -> None:
    assert _samples([500] * 20).recovery_s(fault_at=10, rate=1_000) == 0.0
    assert _samples([500] * 10 + [5_000] * 10).recovery_s(fault_at=10, rate=1_000) is None


def test_every_fault_of_the_issue_is_there() -> None:
    kills = ["connect-kill", "enrich-kill", "kpis-kill", "kafka-restart"]
    assert list(FAULTS) == [*kills, "influxdb-stop", "registry-stop", "mariadb-stop"]
