"""The fault suite's pipeline: one throwaway copy of what `shopstream run` runs (a Trial), shared by
the faults, which run one after another against it; the shared fixtures of the integration tests
(settings, the stack, the session-finish check that nothing is left behind).

The faults share one pipeline, so a connector task or a Spark query that died in one test would fail
every later one. A watcher polls the pipeline's parts every 2 s (each sink connector and task as
Connect reports it, each Spark query's status file) and keeps every change with its time. Each test
shows the changes during it (in its report), and a test that finds a part dead before it starts fails
at once, naming the part, since when and during which test it died, and its error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from shopstream.clients.connect import ConnectClient
from shopstream.errors import ShopstreamError
from shopstream.jobstatus import QUERIES, read_status
from shopstream.ops.trial import Trial
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.conftest import leaves_nothing_behind, settings, stack  # noqa: F401
from tests.integration.grafana.influx import InfluxDB

UI_OFFSET = 51  # the run's Spark UIs: the settings' UI port + 51 (4091 with the default 4040)


@dataclass(frozen=True)
class FaultPipeline:
    trial: Trial

    @property
    def settings(self) -> Settings:
        return self.trial.settings

    @property
    def influx(self) -> InfluxDB:
        return InfluxDB(self.trial.settings, self.trial.database)


DEAD = {"FAILED", "failed"}


@dataclass(frozen=True)
class Change:
    at: float
    part: str  # "connector <name>", "task <name>/<id>", "spark <query>"
    state: str
    detail: str  # the first line of Connect's trace, the failure kind and message
    during: str  # the test running then

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.at))
        return f"{clock} {self.part} -> {self.state}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Watcher:
    """Every state change of the pipeline's connectors, tasks and Spark queries, with its time."""

    trial: Trial
    every_s: float = 2.0
    test: str = "setup"
    changes: list[Change] = field(default_factory=list)
    states: dict[str, Change] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="fault-watcher", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def dead(self) -> list[Change]:
        return [c for c in self.states.values() if c.state in DEAD]

    def since(self, at: float) -> list[Change]:
        return [c for c in self.changes if c.at >= at]

    def _run(self) -> None:
        connect = ConnectClient(self.trial.root.connect)
        while not self._stop.wait(self.every_s):
            self.poll(connect)

    def poll(self, connect: ConnectClient) -> None:
        seen: dict[str, tuple[str, str]] = {}
        for name in self.trial.connectors:
            try:
                status = connect.status(name)
            except ShopstreamError as exc:
                seen[f"connector {name}"] = ("UNREACHABLE", str(exc).splitlines()[0])
                continue
            seen[f"connector {name}"] = (status["connector"]["state"], "")
            for task in status.get("tasks", []):
                trace = (task.get("trace") or "").strip().splitlines()
                detail = f"on {task.get('worker_id', '?')}" + (f"; {trace[0]}" if trace else "")
                seen[f"task {name}/{task['id']}"] = (task["state"], detail)
        for query in QUERIES:
            job = read_status(self.trial.checkpoints, query)
            if job is not None:
                failure = job.last_failure
                detail = f"{failure.kind}: {failure.message}" if failure else f"restarts {job.restarts}"
                seen[f"spark {query}"] = (job.state, detail)
        now = time.time()
        for part, (state, detail) in seen.items():
            last = self.states.get(part)
            if last is None or last.state != state:
                change = Change(now, part, state, detail, self.test)
                self.states[part] = change
                self.changes.append(change)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.faults)


@contextmanager
def shared_pipeline(base: Settings) -> Iterator[FaultPipeline]:
    """A Trial the faults of a package share: set up once, torn down after them."""
    trial = Trial(base, "test")
    try:
        trial.setup(telemetry_s=2, ui_port=base.spark.ui_port + UI_OFFSET)
        yield FaultPipeline(trial)
    finally:
        trial.teardown()


@contextmanager
def watching(pipeline: FaultPipeline) -> Iterator[Watcher]:
    watch = Watcher(pipeline.trial)
    watch.poll(ConnectClient(pipeline.trial.root.connect))
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()


@contextmanager
def guarded(watcher: Watcher, request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test at once when it finds a part of the shared pipeline dead (naming it, since when,
    during which test, and its error); shows every change during the test in its report."""
    watcher.poll(ConnectClient(watcher.trial.root.connect))
    dead = watcher.dead()
    if dead:
        pytest.fail(
            "the shared pipeline has a dead part: "
            + "; ".join(f"{c} (since the test {c.during})" for c in dead),
            pytrace=False,
        )
    began, watcher.test = time.time(), request.node.name
    yield
    changes = watcher.since(began)
    text = "\n".join(str(c) for c in changes) or "no state change"
    request.node.add_report_section("call", "pipeline changes", text)
    print(f"pipeline changes during {request.node.name}:\n{text}")


@pytest.fixture(scope="package")  # torn down after the fault tests: not running under later ones
def pipeline(stack: Stack, settings: Settings) -> Iterator[FaultPipeline]:  # noqa: F811
    with shared_pipeline(settings) as shared:
        yield shared


@pytest.fixture(scope="package")
def watcher(pipeline: FaultPipeline) -> Iterator[Watcher]:
    with watching(pipeline) as watch:
        yield watch


@pytest.fixture(autouse=True)
def pipeline_alive(watcher: Watcher, request: pytest.FixtureRequest) -> Iterator[None]:
    with guarded(watcher, request):
        yield
