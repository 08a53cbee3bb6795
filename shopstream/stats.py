"""The one definition of a percentile the project reports (benchmarks, the producer's ack latency).

Nearest rank: the p-th percentile of n values is the value at rank ceil(p/100 x n) of the sorted values
(1-based), so it is always one of the values measured, never an interpolation between two.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

QUANTILES = (50, 95, 99)


def percentile(ordered: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0 < p <= 100) of values sorted ascending; NaN for none."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def percentiles(values: Iterable[float], quantiles: Sequence[float] = QUANTILES) -> dict[str, float]:
    """``{"p50": .., "p95": .., "p99": ..}`` of the values, rounded to 0.1 (NaN when there are none)."""
    ordered = sorted(values)
    return {f"p{q:g}": round(percentile(ordered, q), 1) for q in quantiles}
