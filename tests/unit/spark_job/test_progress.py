"""The job status's arithmetic on Spark's progress reports, without Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shopstream.jobstatus import read_status
from spark_job.progress import (
    Tracker,
    duplicates_dropped,
    late_rows_dropped,
    new_batches,
    stores,
    watermark_ms,
)


def report(batch: int, rows: int, dropped: int, *, ran: bool = True, run: str = "r1") -> dict[str, Any]:
    """A progress report shaped like Spark's (a KPI query: aggregation and de-duplication)."""
    durations = {"addBatch": 40, "latestOffset": 1, "triggerExecution": 50} if ran else {"latestOffset": 1}
    return {
        "runId": run,
        "batchId": batch,
        "numInputRows": rows,
        "durationMs": durations,
        "eventTime": {"watermark": "2026-12-06T10:00:00.000Z"},
        "stateOperators": [
            {"operatorName": "stateStoreSave", "numRowsTotal": 10, "memoryUsedBytes": 100},
            {
                "operatorName": "dedupeWithinWatermark",
                "numRowsTotal": 1000 + batch,
                "memoryUsedBytes": 200,
                "numRowsDroppedByWatermark": 1,
                "customMetrics": {"numDroppedDuplicateRows": dropped, "rocksdbSstFileSize": 4096},
            },
        ],
    }


def test_a_report_gives_its_stores_and_what_it_dropped() -> None:
    r = report(3, 500, 7)
    assert [(s.operator, s.rows, s.memory_bytes, s.disk_bytes) for s in stores(r)] == [
        ("stateStoreSave", 10, 100, None),
        ("dedupeWithinWatermark", 1003, 200, 4096),
    ]
    assert (duplicates_dropped(r), late_rows_dropped(r)) == (7, 1)
    assert watermark_ms(r) == 1796551200000
    assert watermark_ms({"eventTime": {}}) is None


def test_new_batches_are_the_ones_that_ran_above_the_counted_once_each_oldest_first() -> None:
    recent = [report(5, 1, 0), report(3, 1, 0), report(4, 1, 0), report(4, 1, 0), report(6, 0, 9, ran=False)]
    assert [p["batchId"] for p in new_batches(3, recent)] == [4, 5]


def test_each_batch_counts_once_and_an_idle_report_not_at_all(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, "kpis", clock=lambda: 1.0)
    tracker.progress(report(0, 1000, 0), lambda: [])
    tracker.progress(report(0, 1000, 0), lambda: [])  # the same lastProgress, seen again
    tracker.progress(report(1, 600, 600), lambda: [])
    # idle: Spark reports the next batch id with the last batch's state metrics (600 dropped again)
    tracker.progress(report(2, 0, 600, ran=False), lambda: [])
    tracker.progress(report(2, 50, 0), lambda: [])  # the real batch 2 is counted
    status = read_status(tmp_path, "kpis")
    assert status is not None
    assert (status.batches, status.last_batch_id, status.input_rows) == (3, 2, 1650)
    assert (status.duplicates_dropped, status.late_rows_dropped) == (600, 3)


def test_batches_missed_between_calls_come_from_the_recent_reports(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, "kpis", clock=lambda: 1.0)
    tracker.progress(report(0, 10, 1), lambda: [])
    recent = [report(1, 10, 1), report(2, 10, 1, ran=False), report(3, 10, 1), report(2, 10, 1)]
    tracker.progress(report(3, 10, 1), lambda: recent)
    assert (tracker.status.batches, tracker.status.duplicates_dropped) == (4, 4)


def test_a_restarted_query_goes_on_with_its_checkpoint_batch_ids(tmp_path: Path) -> None:
    tracker = Tracker(tmp_path, "kpis", clock=lambda: 1.0)
    tracker.progress(report(7, 10, 2, run="r1"), lambda: [report(7, 10, 2, run="r1")])
    tracker.progress(report(8, 10, 2, run="r2"), lambda: [])  # a new run of the same checkpoint
    assert (tracker.status.batches, tracker.status.duplicates_dropped) == (2, 4)
