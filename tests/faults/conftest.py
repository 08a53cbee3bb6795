"""The fault suite's pipeline: one throwaway copy of what `shopstream run` runs (a Trial), shared by
the faults, which run one after another against it; the shared fixtures of the integration tests
(settings, the stack, the session-finish check that nothing is left behind)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def pipeline(stack: Stack, settings: Settings) -> Iterator[FaultPipeline]:  # noqa: F811
    trial = Trial(settings, "test")
    try:
        trial.setup(telemetry_s=2, ui_port=settings.spark.ui_port + UI_OFFSET)
        yield FaultPipeline(trial)
    finally:
        trial.teardown()
