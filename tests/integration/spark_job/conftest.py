"""The Spark job as users run it: `shopstream spark run` in its own process, on isolated topics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scripts import demographics
from scripts.cli import app
from scripts.settings import Settings
from spark_job.process import JobProcess


@pytest.fixture
def job_env(isolated_topics: Settings) -> Iterator[Settings]:
    """Registered contracts and the 100k demographics for the isolated topics; rows restored after."""
    runner = CliRunner()
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    assert runner.invoke(app, ["schemas", "evolve"]).exit_code == 0
    demographics.load(isolated_topics)
    yield isolated_topics
    demographics.load(isolated_topics)


@pytest.fixture
def job(job_env: Settings, tmp_path: Path) -> Iterator[JobProcess]:
    process = JobProcess(
        ["--trigger", "0.5", "--checkpoint-dir", str(tmp_path / "checkpoints")],
        tmp_path / "job.log",
        {"SHOPSTREAM_SPARK_UI_PORT": "4061", "SHOPSTREAM_SPARK_DEMOGRAPHICS_REFRESH_S": "3",
         "SHOPSTREAM_SPARK_KPI_TRIGGER_S": "1", "SHOPSTREAM_SPARK_MASTER": "local[2]"},
    )  # fmt: skip
    yield process
    process.stop()
