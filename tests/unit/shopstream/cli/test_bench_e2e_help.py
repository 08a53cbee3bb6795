"""`shopstream bench e2e` documents its lead-in and refuses one that would measure nothing."""

from __future__ import annotations

from typer.testing import CliRunner

from shopstream.cli import app


def test_bench_e2e_has_help_naming_its_options() -> None:
    result = CliRunner().invoke(app, ["bench", "e2e", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in ("--rates", "--step", "--warmup", "--resend", "--lead-in", "--json-out"):
        assert option in result.output
    assert "start up there" in result.output


def test_a_lead_in_no_longer_than_the_warmup_is_refused_before_anything_starts() -> None:
    result = CliRunner().invoke(
        app, ["bench", "e2e", "--lead-in", "20", "--warmup", "20"], terminal_width=200
    )
    assert result.exit_code == 2
    assert "--lead-in" in result.output and "not longer than --warmup 20 s" in result.output
