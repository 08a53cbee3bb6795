"""The Spark job as users run it: `shopstream spark run` in its own process, on isolated topics."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scripts import demographics
from scripts.cli import app
from scripts.settings import Settings


class JobProcess:
    def __init__(self, workdir: Path, env_overrides: dict[str, str]) -> None:
        self.workdir = workdir
        self.env_overrides = env_overrides
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"job-{self.starts}.log"

    def start(self) -> None:
        import os

        self.starts += 1
        env = {**os.environ, **self.env_overrides}
        cmd = [sys.executable, "-m", "scripts.cli", "spark", "run", "--trigger", "0.5",
               "--checkpoint-dir", str(self.workdir / "checkpoints")]  # fmt: skip
        # own process group: a "crash" must take the Spark JVM down with the Python driver
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"), env=env, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while "running enrich" not in self.log.read_text(errors="replace"):
            assert self.proc.poll() is None, f"job exited: {self.log.read_text(errors='replace')[-3000:]}"
            assert time.monotonic() < deadline, "job did not start in 120 s"
            time.sleep(0.5)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: the job's clean stop. SIGKILL: the whole process group at once, like a crash."""
        import os

        import psutil

        if self.proc is None:
            return
        try:
            group = [self.proc.pid, *(c.pid for c in psutil.Process(self.proc.pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            group = []
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, signal.SIGKILL)
        elif self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        alive = []
        for pid in group:
            with contextlib.suppress(psutil.NoSuchProcess):
                alive.append(psutil.Process(pid))
        psutil.wait_procs(alive, timeout=30)
        self.proc = None


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
        tmp_path,
        {"SHOPSTREAM_SPARK_UI_PORT": "4061", "SHOPSTREAM_SPARK_DEMOGRAPHICS_REFRESH_S": "3",
         "SHOPSTREAM_SPARK_KPI_TRIGGER_S": "1",
         "SHOPSTREAM_SPARK_MASTER": "local[2]"},
    )  # fmt: skip
    yield process
    process.stop()
