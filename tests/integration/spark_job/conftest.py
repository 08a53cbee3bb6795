"""The Spark job as users run it: `shopstream spark run` as a program of the stack's supervisor, on
isolated topics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.ops import demographics
from shopstream.ops.jobs import SparkJob
from shopstream.settings import Settings


@pytest.fixture
def job_env(isolated_topics: Settings) -> Iterator[Settings]:
    """Registered contracts and the 100k demographics for the isolated topics; rows restored after."""
    runner = CliRunner()
    assert runner.invoke(app, ["schemas", "register"]).exit_code == 0
    assert runner.invoke(app, ["schemas", "evolve"]).exit_code == 0
    demographics.load(isolated_topics)
    yield isolated_topics
    demographics.load(isolated_topics)


REFRESH_S = 5  # demographics refresh; in realtime mode also the checkpoint interval (5 s at least)


@pytest.fixture
def job(job_env: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SparkJob]:
    """The job, not started yet; enrichment in realtime mode unless parametrized with "microbatch"."""
    mode = getattr(request, "param", "realtime")
    process = SparkJob(
        job_env,
        f"test-spark-{uuid.uuid4().hex[:8]}",
        ["--trigger", "0.5", "--mode", mode],
        checkpoint_dir=tmp_path / "checkpoints",
        # a UI port of its own, next to the settings' (a second stack on the machine has other ones)
        env={"SHOPSTREAM_SPARK_UI_PORT": str(job_env.spark.ui_port + 21),
             "SHOPSTREAM_SPARK_DEMOGRAPHICS_REFRESH_S": str(REFRESH_S),
             "SHOPSTREAM_SPARK_KPI_TRIGGER_S": "1"},
        log=tmp_path / "job.log",
    )  # fmt: skip
    yield process
    process.remove()
