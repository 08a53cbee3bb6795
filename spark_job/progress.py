"""The queries' progress as the job's status files (``shopstream.jobstatus``).

Spark reports each completed micro-batch as a progress object (``StreamingQuery.lastProgress``, the
last ``recentProgress`` ones): rows, duration, watermark and, per stateful operator, its state rows
and memory, the rows it dropped as late (``numRowsDroppedByWatermark``) and, for the de-duplication,
the duplicates it dropped (``numDroppedDuplicateRows``). ``Tracker`` adds each batch once to the
totals since the application started and writes the query's file; the arithmetic is plain functions
of the progress dicts, unit-tested without Spark (tests/unit/spark_job/test_progress.py).

An idle query also reports progress (every ``spark.sql.streaming.noDataProgressEventInterval``):
with the id of the batch it has not run yet and the state operators' metrics of the last batch it
ran. Such a report is no batch: counted, it would add that batch's dropped duplicates a second
time and hide the real batch of that id. Only a report of a batch that ran (``addBatch`` in its
durations) counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shopstream.jobstatus import Failure, QueryState, QueryStatus, SchemaRestart, StateStore, write_status

Progress = Mapping[str, Any]


def stores(progress: Progress) -> list[StateStore]:
    """The query's stateful operators after this batch."""
    found = []
    for op in progress.get("stateOperators") or []:
        custom = op.get("customMetrics") or {}
        sst = custom.get("rocksdbSstFileSize")
        found.append(
            StateStore(
                operator=str(op.get("operatorName", "?")),
                rows=int(op.get("numRowsTotal", 0)),
                memory_bytes=int(op.get("memoryUsedBytes", 0)),
                disk_bytes=None if sst is None else int(sst),
            )
        )
    return found


def duplicates_dropped(progress: Progress) -> int:
    return sum(
        int((op.get("customMetrics") or {}).get("numDroppedDuplicateRows", 0))
        for op in progress.get("stateOperators") or []
    )


def late_rows_dropped(progress: Progress) -> int:
    return sum(int(op.get("numRowsDroppedByWatermark", 0)) for op in progress.get("stateOperators") or [])


def watermark_ms(progress: Progress) -> int | None:
    text = (progress.get("eventTime") or {}).get("watermark")
    if not text:
        return None
    return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)


def add_batch(status: QueryStatus, progress: Progress) -> QueryStatus:
    """The status with one more completed batch counted."""
    rows = int(progress.get("numInputRows", 0))
    return status.model_copy(
        update={
            "batches": status.batches + 1,
            "last_batch_id": int(progress["batchId"]),
            "last_batch_rows": rows,
            "last_batch_ms": int((progress.get("durationMs") or {}).get("triggerExecution", 0)),
            "input_rows": status.input_rows + rows,
            "watermark_ms": watermark_ms(progress) or status.watermark_ms,
            "stores": stores(progress) or status.stores,
            "duplicates_dropped": status.duplicates_dropped + duplicates_dropped(progress),
            "late_rows_dropped": status.late_rows_dropped + late_rows_dropped(progress),
        }
    )


def ran(progress: Progress) -> bool:
    """Whether the report is of a batch that ran (not an idle query's report)."""
    return "addBatch" in (progress.get("durationMs") or {})


def new_batches(counted: int, recent: Iterable[Progress]) -> list[Progress]:
    """The reports of batches that ran and are above ``counted`` (the highest batch id counted),
    oldest first, each once. Batch ids go on across the query's restarts (they are the checkpoint's)."""
    unique = {int(p["batchId"]): p for p in recent if ran(p) and int(p["batchId"]) > counted}
    return [unique[batch] for batch in sorted(unique)]


@dataclass
class Tracker:
    """The status of one query of this application, kept current and written to its file."""

    checkpoint_dir: Path
    name: str
    master: str = ""
    ui_url: str | None = None
    clock: Callable[[], float] = time.time
    status: QueryStatus = field(init=False)
    _counted: int = -1  # the highest batch id counted

    def __post_init__(self) -> None:
        now = self.clock()
        self.status = QueryStatus(
            name=self.name,
            pid=os.getpid(),
            master=self.master,
            ui_url=self.ui_url,
            state="running",
            started_at=now,
            updated_at=now,
        )
        self._write()

    def progress(self, last: Progress | None, recent: Callable[[], Sequence[Progress]]) -> None:
        """Count what completed since the last call: ``last`` (the query's lastProgress) when it is the
        only new batch, else the query's ``recent`` progress list (a batch missed between calls)."""
        if not last or not ran(last) or int(last["batchId"]) <= self._counted:
            return
        batch = int(last["batchId"])
        batches = [last] if batch == self._counted + 1 else new_batches(self._counted, recent())
        for p in batches:
            self.status = add_batch(self.status, p)
            self._counted = int(p["batchId"])
        if batches:
            self._write()

    def state(self, state: QueryState, failure: Failure | None = None, restarted: bool = False) -> None:
        update: dict[str, Any] = {"state": state}
        if failure is not None:
            update["last_failure"] = failure
        if restarted:
            update["restarts"] = self.status.restarts + 1
        self.status = self.status.model_copy(update=update)
        self._write()

    def schema_restart(self, restart: SchemaRestart) -> None:
        """The query was restarted with a new writer schema (and runs again)."""
        self.status = self.status.model_copy(
            update={
                "state": "running",
                "restarts": self.status.restarts + 1,
                "schema_restarts": [*self.status.schema_restarts, restart],
            }
        )
        self._write()

    def _write(self) -> None:
        self.status = self.status.model_copy(update={"updated_at": self.clock()})
        write_status(self.checkpoint_dir, self.status)
