"""One handler at the command's entry: a ShopstreamError is one red line, its hint and an exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.resources import PROJECT_DIR_ENV


def test_a_missing_data_file_is_one_line_and_a_hint(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROJECT_DIR_ENV, str(clean_env))
    result = CliRunner().invoke(app, ["connectors", "diff"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"error: connectors not found in {PROJECT_DIR_ENV}={clean_env}",
        f"hint: run shopstream from a complete checkout of the project, or set {PROJECT_DIR_ENV} to one",
    ]


def test_an_invalid_setting_exits_2_naming_every_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSTREAM_MYSQL_PORT", "0")
    monkeypatch.setenv("SHOPSTREAM_CONNECT_URL", "connect:8083")
    result = CliRunner().invoke(app, ["pipeline", "status"])
    assert result.exit_code == 2
    first = result.output.splitlines()[0]
    assert first.startswith("error: invalid setting SHOPSTREAM_")
    assert "SHOPSTREAM_MYSQL_PORT" in first and "SHOPSTREAM_CONNECT_URL" in first
