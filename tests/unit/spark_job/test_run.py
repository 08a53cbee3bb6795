"""The job's runner: which query it restarts, and when it gives up (fakes for the job and queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shopstream.jobstatus import Failure, SchemaRestart, read_status
from spark_job.progress import Tracker
from spark_job.run import (
    MAX_RESTARTS,
    NEW_VERSION,
    PROGRESS_EVERY_S,
    CheckpointIncompatible,
    SparkJobError,
    _supervise,
)


@dataclass
class FakeQuery:
    """One run of a query: completes a batch if ``progress``; fails with ``failure`` once it has
    been looked at ``polls_before_failing`` times (the fake job classifies a failure as itself)."""

    failure: Failure | None = None
    polls_before_failing: int = 0
    progress: bool = False
    stopped: bool = False

    def exception(self) -> Failure | None:
        if self.failure is None or self.polls_before_failing > 0:
            self.polls_before_failing -= 1
            return None
        return self.failure

    @property
    def lastProgress(self) -> dict[str, Any] | None:  # noqa: N802 (pyspark's name)
        return {"batchId": 0} if self.progress else None

    def stop(self) -> None:
        self.stopped = True


@dataclass
class FakeWriters:
    newest_id: int = 5
    by_id: dict[int, str] = field(default_factory=dict)


@dataclass
class FakeJob:
    outdated_queries: list[list[str]] = field(default_factory=list)  # one answer per loop, then none
    writers: FakeWriters = field(default_factory=FakeWriters)

    def refresh(self) -> str | None:
        return None

    def outdated(self) -> list[str]:
        return self.outdated_queries.pop(0) if self.outdated_queries else []

    @staticmethod
    def failure_of(exception: Failure) -> Failure:
        return exception

    def load_schema(self, schema_id: int) -> bool:
        return schema_id in self.writers.by_id

    def checkpoint(self, query: str) -> Path:
        return CHECKPOINTS / query


def boom() -> Failure:
    return Failure(kind="error", message="boom")


def not_loaded(schema_id: int) -> Failure:
    return Failure(kind="schema_not_loaded", message=f"schema id {schema_id} not loaded", schema_id=schema_id)


class FakeClock:
    """The runner's clock: its pauses advance it at once, so the test's length is a number of loops,
    not a wall-clock time a loaded machine could stretch (a 0.2-s real budget failed one CI run)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr("spark_job.run.time", fake)
    return fake


@pytest.fixture(autouse=True)
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the runner's status files go (the module-level default for _supervised)."""
    monkeypatch.setattr(f"{__name__}.CHECKPOINTS", tmp_path)
    return tmp_path


CHECKPOINTS = Path()


def _supervised(job: FakeJob, runs: list[FakeQuery]) -> tuple[dict[str, Any], list[str], list[FakeQuery]]:
    """Supervise one query "kpis" for 19 loops of the fake clock (short of a progress line); its
    successive runs are ``runs``, then healthy ones."""
    started: list[FakeQuery] = []

    def start() -> FakeQuery:
        started.append(runs.pop(0) if runs else FakeQuery(progress=True))
        return started[-1]

    running: dict[str, Any] = {"kpis": start()}
    lines: list[str] = []
    trackers = {"kpis": Tracker(CHECKPOINTS, "kpis")}
    _supervise(job, running, {"kpis": start}, trackers, PROGRESS_EVERY_S - 0.5, lines.append)  # type: ignore[arg-type,dict-item]
    return running, lines, started


def test_failures_in_a_row_give_up_after_the_limit(checkpoints: Path) -> None:
    with pytest.raises(SparkJobError, match=f"query kpis failed {MAX_RESTARTS + 1} times: boom"):
        _supervised(FakeJob(), [FakeQuery(boom()) for _ in range(MAX_RESTARTS + 1)])
    status = read_status(checkpoints, "kpis")
    assert status is not None and status.state == "failed" and status.restarts == MAX_RESTARTS
    assert status.last_failure is not None and (status.last_failure.kind, status.last_failure.message) == (
        "error",
        "boom",
    )


def test_failures_with_a_completed_batch_in_between_do_not_add_up() -> None:
    """E.g. SPARK-55271 failing a query once after each of many restarts: it works in between."""
    runs = [FakeQuery(boom(), polls_before_failing=2, progress=True) for _ in range(2 * MAX_RESTARTS)]
    _running, lines, started = _supervised(FakeJob(), runs)
    assert lines == ["query kpis failed (boom); restart 1"] * (2 * MAX_RESTARTS)
    assert len(started) == 2 * MAX_RESTARTS + 1


def test_a_query_planned_before_a_new_version_is_restarted_with_it() -> None:
    job = FakeJob(outdated_queries=[["kpis", "enrich"]])  # "enrich" does not run in this application
    running, lines, started = _supervised(job, [])
    assert lines == [f"query kpis: schema id 5 {NEW_VERSION}"]
    assert started[0].stopped and running["kpis"] is started[1] and not started[1].stopped
    status = read_status(CHECKPOINTS, "kpis")
    assert status is not None and status.schema_restarts == [SchemaRestart(schema_id=5, cause="registered")]


DLQ = "its records go to the DLQ"


def test_a_restart_on_a_schema_id_starts_the_count_of_failures_anew() -> None:
    """Each stop on an unknown id is followed by a SPARK-55271 failure: that is no crash loop."""
    runs: list[FakeQuery] = []
    for schema_id in range(100, 100 + 2 * MAX_RESTARTS):
        runs += [FakeQuery(not_loaded(schema_id)), FakeQuery(boom())]
    _running, lines, started = _supervised(FakeJob(), runs)
    assert lines == [
        line
        for schema_id in range(100, 100 + 2 * MAX_RESTARTS)
        for line in (
            f"query kpis: schema id {schema_id} is no version of the subject: restarting; {DLQ}",
            "query kpis failed (boom); restart 1",
        )
    ]
    assert len(started) == 4 * MAX_RESTARTS + 1


def test_a_checkpoint_of_another_plan_fails_at_once_with_the_fix() -> None:
    incompatible = Failure(kind="checkpoint_incompatible", message="operators differ")
    with pytest.raises(CheckpointIncompatible) as raised:
        _supervised(FakeJob(), [FakeQuery(incompatible)])
    assert "shopstream spark reset kpis" in (raised.value.hint or "")
    status = read_status(CHECKPOINTS, "kpis")
    assert status is not None and status.state == "failed" and status.restarts == 0
    assert status.last_failure == incompatible
