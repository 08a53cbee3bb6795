"""What a trial's producer is told to do (no services: the job is built, not started)."""

from __future__ import annotations

from pathlib import Path

from shopstream.ops.trial import Trial
from shopstream.settings import Settings, StackSettings


def test_the_producer_writes_its_summary_where_the_benchmark_reads_it(tmp_path: Path) -> None:
    settings = Settings(stack=StackSettings(state_dir=tmp_path))
    trial = Trial(settings, "test")
    job = trial.producer(rate=100, duration_s=5, seed=1, name="producer-100")
    at = job.args.index("--summary-json")
    assert Path(job.args[at + 1]) == trial.summary_path("producer-100")
    assert trial.summary_path("producer-100").parent == trial.workdir
