"""Data files are found in one place, and a missing one fails naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopstream.errors import ResourceMissing
from shopstream.resources import PROJECT_DIR_ENV, find_project_dir, project_dir, project_file

CHECKOUT = Path(__file__).resolve().parents[3]


def test_the_checkout_is_the_project_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROJECT_DIR_ENV, raising=False)
    assert find_project_dir() == project_dir() == CHECKOUT
    assert (
        project_file("schemas", "avro", "kpi_segment.avsc")
        == CHECKOUT / "schemas" / "avro" / "kpi_segment.avsc"
    )


def test_a_missing_file_names_itself_and_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PROJECT_DIR_ENV, str(tmp_path))
    with pytest.raises(ResourceMissing) as err:
        project_file("connectors")
    assert err.value.message == f"connectors not found in {PROJECT_DIR_ENV}={tmp_path}"
    assert PROJECT_DIR_ENV in err.value.hint and "checkout" in err.value.hint
