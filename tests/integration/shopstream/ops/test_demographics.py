"""The demographics loader against the real MariaDB."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.errors import DatabaseError
from shopstream.ops import demographics
from shopstream.settings import Settings
from shopstream.stack.stack import Stack


def test_two_runs_leave_exactly_the_seeded_100k_rows(stack: Stack, settings: Settings) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["demographics", "load"])
        assert result.exit_code == 0, result.output
        assert "table holds 100,000 rows" in result.output
    expected = list(demographics.generate(100_000, 42))
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), MIN(id), MAX(id), SUM(age), SUM(gender = 'F') FROM demographics")
        count, low, high, age_sum, women = cur.fetchone() or ()
        cur.execute("SELECT id, age, gender, state, country FROM demographics WHERE id IN (1, 5000, 100000)")
        sample = sorted(cur.fetchall())
    assert (count, low, high) == (100_000, 1, 100_000)
    assert int(age_sum) == sum(row[1] for row in expected)
    assert int(women) == sum(row[2] == "F" for row in expected)
    assert [tuple(r) for r in sample] == [expected[0], expected[4999], expected[99_999]]


def test_a_smaller_count_trims_and_a_rerun_restores(stack: Stack, settings: Settings) -> None:
    demographics.load(settings, count=1_000)
    assert demographics.row_count(settings) == 1_000
    demographics.load(settings)
    assert demographics.row_count(settings) == 100_000


def test_a_command_that_needs_them_says_how_to_load_them(
    stack: Stack, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        demographics.load(settings, count=0)
        with pytest.raises(DatabaseError, match="table `demographics` missing or empty") as empty:
            demographics.require_loaded(settings)
        assert empty.value.hint == "load them: `shopstream demographics load`"
    finally:
        demographics.load(settings)
    assert demographics.require_loaded(settings) == 100_000
    monkeypatch.setattr(demographics, "TABLE", "no_such_table")  # the real server's 1146
    with pytest.raises(DatabaseError, match="table `no_such_table` missing or empty"):
        demographics.require_loaded(settings)
