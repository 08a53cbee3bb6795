"""The Spark job as a child process, as the pipeline, the benchmark and the tests run it.

The job gets its own process group: a clean stop signals the Python driver (which stops its
queries and the JVM), while a crash (SIGKILL) takes the whole group, JVM included, at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

READY = "spark job ready"  # reported by spark_job.run once its queries are started


def cli_command(*args: str) -> list[str]:
    """A `shopstream` command line using this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "shopstream", *args]


class JobProcess:
    """`shopstream spark run ARGS` in the background, its stderr appended to ``log``."""

    def __init__(
        self, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None, nice: int = 0
    ) -> None:
        self.args = list(args)
        self.log = log
        self.env = dict(env or {})
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 180) -> None:
        """Start and wait until the job says it is ready; fail with the log's tail otherwise."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            [
                *(["nice", "-n", str(self.nice)] if self.nice else []),
                *cli_command("spark", "run", *self.args),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            env={**os.environ, **self.env},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while True:
            with self.log.open("rb") as handle:
                handle.seek(offset)
                output = handle.read().decode(errors="replace")
            if READY in output:
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"the Spark job did not start; see {self.log}:\n{output[-3000:]}")
            time.sleep(0.5)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 90) -> None:
        """SIGTERM/SIGINT: the job's clean stop (SIGKILL after ``timeout_s``). SIGKILL: a crash."""
        if self.proc is None:
            return
        try:
            group = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            group = []
        with contextlib.suppress(ProcessLookupError):
            if sig == signal.SIGKILL:
                os.killpg(self.proc.pid, signal.SIGKILL)
            else:
                self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        psutil.wait_procs(group, timeout=30)  # the JVM too: nothing may still hold the checkpoint
        self.proc = None


ENRICH, KPIS = "enrich", "kpis"
KPI_NICE = 19


def job_processes(
    args: Sequence[str], logs: Path, env: Mapping[str, str] | None = None, ui_port: int = 4040
) -> list[JobProcess]:
    """The job as two Spark applications: enrichment (latency-bound) and the KPI queries
    (throughput-bound, niced), so that KPI batches never take the CPU from records in flight."""
    base = dict(env or {})
    return [
        JobProcess([*args, "--queries", ENRICH], logs / "spark-enrich.log", base),
        JobProcess(
            [*args, "--queries", KPIS],
            logs / "spark-kpis.log",
            {**base, "SHOPSTREAM_SPARK_UI_PORT": str(ui_port + 1)},
            nice=KPI_NICE,
        ),
    ]
