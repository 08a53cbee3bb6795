"""`bench kpi-state`'s plan and arithmetic (its runs need Spark: measured by the command itself)."""

from __future__ import annotations

from typing import Any

import pytest

from shopstream.bench.kpi_state import Config, Run, _spread, configs, summarise
from shopstream.errors import ShopstreamError


def _progress(batch: int, rows: int, ms: int, state_rows: int = 10) -> dict[str, Any]:
    return {
        "batchId": batch,
        "numInputRows": rows,
        "durationMs": {"triggerExecution": ms},
        "stateOperators": [
            {"allUpdatesTimeMs": 100, "allRemovalsTimeMs": 40, "commitTimeMs": 20,
             "numRowsTotal": state_rows, "memoryUsedBytes": 3 * 2**20},
            {"allUpdatesTimeMs": 10, "allRemovalsTimeMs": 0, "commitTimeMs": 5,
             "numRowsTotal": 7, "memoryUsedBytes": 2**20},
        ],
    }  # fmt: skip


def test_each_store_with_dedup_then_the_first_store_without_it_as_the_reference() -> None:
    assert configs(["rocksdb", "hdfs"]) == [
        Config("rocksdb", True),
        Config("hdfs", True),
        Config("rocksdb", False),
    ]
    assert [c.name for c in configs(["hdfs"])] == ["hdfs", "hdfs no dedup"]


def test_a_run_is_summarised_from_the_batches_with_input() -> None:
    progress = [_progress(4, 60_000, 2_000, 100), _progress(5, 0, 3), _progress(6, 60_000, 1_000, 120)]
    figures = summarise(progress, cpu_s=6.0)
    assert figures["batches"] == 2 and figures["events"] == 120_000
    assert figures["mean_batch_ms"] == 1_500.0 and figures["batch_ms"]["p95"] == 2_000.0
    assert figures["events_per_s_busy"] == 40_000.0  # 120,000 events in 3 s of batches
    assert figures["cpu_us_per_event"] == 50.0
    assert figures["state_ms_per_batch"] == {"updates": 110.0, "removals": 40.0, "commit": 25.0}
    assert figures["state_rows"] == [120, 7] and figures["state_memory_mb"] == [3.0, 1.0]  # the last batch's


def test_a_run_without_input_after_the_warmup_is_an_error() -> None:
    with pytest.raises(ShopstreamError, match="no batch with input"):
        summarise([_progress(1, 0, 5)], cpu_s=1.0)


def _run(config: str, cpu: float) -> Run:
    return Run(config, 1, 1, {}, 1_000.0, 1.0, cpu, {}, [], [], [0.0], [0.0])


def test_spread_gives_median_range_and_the_ratio_to_the_reference() -> None:
    runs = [
        _run("rocksdb", 60.0),
        _run("rocksdb", 66.0),
        _run("rocksdb", 63.0),
        *(_run("rocksdb no dedup", 30.0),) * 3,
    ]
    spread = _spread(runs, "rocksdb", "rocksdb no dedup")
    assert spread["cpu_us_per_event"] == {"median": 63.0, "min": 60.0, "max": 66.0}
    assert spread["cpu_ratio_to_reference"] == 2.1
