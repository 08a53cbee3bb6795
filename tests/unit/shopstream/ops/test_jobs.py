"""How the Spark job's two applications are launched (no services: the jobs are built, not started)."""

from __future__ import annotations

from pathlib import Path

from shopstream.ops.jobs import spark_jobs
from shopstream.settings import Settings, SparkSettings, StackSettings


def _commands(settings: Settings) -> dict[str, list[str]]:
    return {job.name: list(job.program.command) for job in spark_jobs(settings, ["spark", "run"])}


def test_the_kpi_application_runs_at_the_configured_nice_and_the_enrichment_at_zero(tmp_path: Path) -> None:
    stack = StackSettings(state_dir=tmp_path)
    default = _commands(Settings(stack=stack))
    assert default["spark-kpis"][:3] == ["nice", "-n", "10"]
    assert default["spark-enrich"][0] != "nice"

    chosen = _commands(Settings(stack=stack, spark=SparkSettings(kpi_nice=3)))
    assert chosen["spark-kpis"][:3] == ["nice", "-n", "3"]

    unniced = _commands(Settings(stack=stack, spark=SparkSettings(kpi_nice=0)))
    assert unniced["spark-kpis"][0] != "nice"
