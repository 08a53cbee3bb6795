"""`shopstream bench sink` is wired into the command and documents itself."""

from __future__ import annotations

from typer.testing import CliRunner

from shopstream.cli import app


def test_bench_sink_has_help_naming_its_options() -> None:
    result = CliRunner().invoke(app, ["bench", "sink", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for option in ("--count", "--partitions", "--shape", "--set", "--json-out"):
        assert option in result.output
    assert "direct batched write" in result.output


def test_bench_sink_refuses_an_unknown_shape_and_a_bad_override() -> None:
    shape = CliRunner().invoke(app, ["bench", "sink", "--shape", "wide"])
    assert shape.exit_code == 2 and "events, kpi" in shape.output
    override = CliRunner().invoke(app, ["bench", "sink", "--set", "batch.size"])
    assert override.exit_code == 2 and "KEY=VALUE" in override.output
