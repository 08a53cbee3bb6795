"""Fixtures of the dashboard query tests: a throwaway InfluxDB database holding the test's points,
and the demographics table loaded by the project's own command."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.grafana import expected
from tests.integration.grafana.influx import InfluxDB


@pytest.fixture(scope="session")
def influx(stack: Stack, settings: Settings) -> Iterator[InfluxDB]:
    """A database of its own for this test run (the panel queries name measurements, not the
    database), holding ``expected.WRITES`` written batch by batch; dropped afterwards.

    The points are written by the test, in the InfluxDB sink's documented mapping, because the sink
    connector itself is unobtainable here (see expected.py)."""
    db = InfluxDB(settings, f"shopstream_test_grafana_{uuid.uuid4().hex[:8]}")
    db.create()
    try:
        for batch in expected.WRITES:
            db.write(batch)
        yield db
    finally:
        db.drop()
    assert db.database not in db.databases()


@pytest.fixture(scope="session")
def demographics_loaded(stack: Stack) -> None:
    """The 100,000 seeded rows, loaded with ``shopstream demographics load`` (idempotent)."""
    result = CliRunner().invoke(app, ["demographics", "load"])
    assert result.exit_code == 0, result.output
    assert "table holds 100,000 rows" in result.output
