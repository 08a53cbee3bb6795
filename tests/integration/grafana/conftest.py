"""Fixtures of the MariaDB dashboard query tests: the demographics table loaded by the project's
own command."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.stack.stack import Stack


@pytest.fixture(scope="session")
def demographics_loaded(stack: Stack) -> None:
    """The 100,000 seeded rows, loaded with ``shopstream demographics load`` (idempotent)."""
    result = CliRunner().invoke(app, ["demographics", "load"])
    assert result.exit_code == 0, result.output
    assert "table holds 100,000 rows" in result.output
