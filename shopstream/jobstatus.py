"""What a running Spark application tells the rest of shopstream about its streaming queries.

The job's runner (``spark_job/run.py``) writes one JSON file per query next to the query's checkpoint
(``<checkpoint dir>/<query>.status.json``), replaced atomically whenever something changes; the job
supervisor (``ops/jobs.py``: is the application ready?), the monitor, `pipeline status`, the
benchmarks and the tests read it. It is the job's typed channel to them: states, counters and
failure kinds as fields, never a log line or an exception text to parse.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import psutil
from pydantic import BaseModel, ValidationError

from shopstream.errors import ShopstreamError
from shopstream.settings import Settings

ENRICH, KPIS = "enrich", "kpis"
QUERIES = (ENRICH, KPIS)  # the Spark job's streaming queries
QueryState = Literal["running", "restarting", "failed", "stopped"]
FailureKind = Literal["schema_not_loaded", "checkpoint_incompatible", "error"]


class Failure(BaseModel):
    """Why a query stopped: its kind, the schema id for ``schema_not_loaded``, the first line of
    Spark's message for people."""

    kind: FailureKind
    message: str
    schema_id: int | None = None


class SchemaRestart(BaseModel):
    """The query was restarted to decode a writer schema its plan did not know: polled from the
    registry before its records came (``registered``), or met in a record (``record``)."""

    schema_id: int
    cause: Literal["registered", "record"]


class StateStore(BaseModel):
    """One stateful operator of the query after its last batch (Spark's StateOperatorProgress)."""

    operator: str  # Spark's name: dedupeWithinWatermark, stateStoreSave, ...
    rows: int = 0
    memory_bytes: int = 0
    disk_bytes: int | None = None  # RocksDB: its SST files (checkpointed state); None for the in-memory store


class QueryStatus(BaseModel):
    """One query of one application run (``pid``): what it did since the application started."""

    name: str
    pid: int  # the driver's process: a file left by an earlier run has another pid
    master: str = ""  # the Spark master the application runs on
    ui_url: str | None = None  # its Spark UI
    state: QueryState
    started_at: float  # epoch seconds, this application's start
    updated_at: float
    batches: int = 0  # micro-batches completed since the start (Real-time Mode: checkpoints)
    last_batch_id: int | None = None
    last_batch_rows: int = 0
    last_batch_ms: int = 0
    input_rows: int = 0  # since the start
    watermark_ms: int | None = None
    stores: list[StateStore] = []
    duplicates_dropped: int = 0  # rows whose event id the query had counted already (since the start)
    late_rows_dropped: int = 0  # rows older than the watermark, left out (since the start)
    restarts: int = 0  # of the query inside the application (a failure, a new schema version)
    schema_restarts: list[SchemaRestart] = []  # the restarts for a new writer schema, in order
    last_failure: Failure | None = None

    @property
    def dedup_store(self) -> StateStore | None:
        return next((s for s in self.stores if s.operator.startswith("dedupe")), None)


def default_checkpoint_dir(settings: Settings) -> Path:
    """Where `shopstream spark run` checkpoints unless told otherwise."""
    return settings.stack.state_dir / "spark" / "checkpoints"


def status_path(checkpoint_dir: Path, query: str) -> Path:
    return checkpoint_dir / f"{query}.status.json"


def write_status(checkpoint_dir: Path, status: QueryStatus) -> None:
    """Replace the query's file atomically (a reader never sees half a file)."""
    path = status_path(checkpoint_dir, status.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(status.model_dump_json(indent=1))
    tmp.replace(path)


def read_status(checkpoint_dir: Path, query: str, pid: int | None = None) -> QueryStatus | None:
    """The query's last status; None when there is none (or, with ``pid``, only an earlier run's)."""
    try:
        status = QueryStatus.model_validate_json(status_path(checkpoint_dir, query).read_text())
    except (OSError, ValidationError):
        return None
    if pid is not None and status.pid != pid:
        return None
    return status


def reset_checkpoint(checkpoint_dir: Path, query: str) -> bool:
    """Remove the query's checkpoint (offsets and state) and status, so that it starts afresh; False
    when there was none. Refused while an application still runs the query."""
    status = read_status(checkpoint_dir, query)
    if status is not None and status.state in ("running", "restarting") and psutil.pid_exists(status.pid):
        raise ShopstreamError(
            f"query {query} still runs (pid {status.pid}) on {checkpoint_dir / query}",
            "stop the Spark job first (Ctrl-C of `shopstream run`, or `shopstream spark run`'s own)",
        )
    folder = checkpoint_dir / query
    found = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    status_path(checkpoint_dir, query).unlink(missing_ok=True)
    return found
