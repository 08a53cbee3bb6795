"""The one percentile definition: nearest rank."""

from __future__ import annotations

import math

from shopstream.stats import percentile, percentiles


def test_nearest_rank_is_always_a_measured_value() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50.0, 95.0, 99.0, 100.0]
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # rank ceil(2.0) = 2
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert math.isnan(percentile([], 50))


def test_percentiles_sorts_and_rounds() -> None:
    assert percentiles([3.04, 1.0, 2.0]) == {"p50": 2.0, "p95": 3.0, "p99": 3.0}
    assert all(math.isnan(v) for v in percentiles([]).values())
