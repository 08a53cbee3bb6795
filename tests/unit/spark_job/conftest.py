"""A local SparkSession with the project's connector jars, shared by the Spark unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from shopstream.settings import Settings
from shopstream.stack.artifacts import spark_runtime
from spark_job.session import SparkRuntime, spark_session


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    settings = Settings().replace(state_dir=Path(tmp_path_factory.mktemp("spark-state")), spark_ui_port=4050)
    runtime = SparkRuntime(*spark_runtime(settings))
    session = spark_session(settings, runtime, app_name="shopstream-unit", master="local[2]")
    yield session
    session.stop()
