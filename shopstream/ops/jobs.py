"""The pipeline's long-running programs (the Spark applications, the producer) under the stack's
supervisord: one way to start, stop, restart and log a process.

Each runs the ``shopstream`` command (``python -m shopstream ...``, this interpreter) with its slice of
the settings in its environment (``settings.Slice``): the sections it uses, with its own identities'
secrets only (the Spark job: Kafka's spark user, the registry reader, MariaDB's application user; the
producer: Kafka's producer user and the registry reader; the telemetry sampler: Kafka's admin,
Connect's REST user, InfluxDB's writer and reader), and no .env to read: it holds nothing more than it
is given. Each also gets the ``monitoring`` section (its metrics endpoint; no secrets there).
Readiness is a real signal, not a log line: a Spark application is ready when the status file of each
of its queries (``shopstream.jobstatus``, written by the job) says that this run of it is running; the
producer when supervisord has kept it running past its start.

Every job is supervised like the stack's services (``shopstream.stack.restarts``): a crash is
restarted by supervisord (a Spark application resumes from its checkpoints), counted, held back
when it repeats and given up after the policy's limit; an exit with status 0 (``--duration``,
``--count``) is a finish and a stop is a stop. ``restart=False`` opts a job out.
"""

from __future__ import annotations

import os
import signal
import sys
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shopstream.errors import ProcessFailed
from shopstream.jobstatus import ENRICH, KPIS, default_checkpoint_dir, read_status
from shopstream.metrics import unregister_program
from shopstream.retry import NotYet, wait_until
from shopstream.settings import ALL, Settings, Slice
from shopstream.stack.paths import StackPaths
from shopstream.stack.restarts import LIVE_STATES, RestartPolicy
from shopstream.stack.supervisor import Program, Supervisor

FAILED_STATES = {"EXITED", "FATAL", "BACKOFF", "STOPPED", "UNKNOWN", "NOT_RUNNING"}
# a job's start is watched by Job.start itself: no silent retries of a start that fails
JOB_RESTART = RestartPolicy(startsecs=5, startretries=0)
# what each kind of job is given of the settings: its sections, and the role it acts as in each
SPARK_JOB = Slice(
    ("kafka", "registry", "mysql", "topics", "rules", "spark", "stack", "monitoring"),
    {"kafka": "spark", "registry": "reader", "mysql": "app"},
)
PRODUCER = Slice(
    ("kafka", "registry", "topics", "rules", "stack", "monitoring"),
    {"kafka": "producer", "registry": "reader"},
)
# (InfluxDB's reader too: KPI freshness for Prometheus, ops/telemetry_metrics.py)
TELEMETRY = Slice(
    ("kafka", "connect", "influxdb", "topics", "spark", "stack", "monitoring"),
    {"kafka": "admin", "influxdb": ("writer", "reader")},
)


def shopstream_command(*args: str) -> list[str]:
    """A `shopstream` command line with this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "shopstream", *args]


class Job:
    """One program of the pipeline under the stack's supervisord, logging to ``log``; restarted after
    a crash under ``restart`` (default: ``DEFAULT_RESTART``; False: never); given the ``settings``
    slice named (default: ``DEFAULT_SLICE``), with ``env`` over it."""

    DEFAULT_RESTART = JOB_RESTART
    DEFAULT_SLICE = ALL

    def __init__(
        self,
        settings: Settings,
        name: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        nice: int = 0,
        stop_wait_s: int = 90,
        restart: RestartPolicy | bool = True,
        given: Slice | None = None,
    ) -> None:
        self.supervisor = Supervisor(StackPaths.of(settings))
        self.settings = settings.replace(**_names_of(env or {}))
        self.name = name
        self.args = list(args)
        self.log = log or self.supervisor.paths.log(name)
        self.log_offset = 0  # where the current run's lines start in the log
        command = [*(["nice", "-n", str(nice)] if nice else []), *shopstream_command(*self.args)]
        self.program = Program(
            name,
            command,
            environment=self.settings.env_for(given or self.DEFAULT_SLICE),
            directory=settings.stack.state_dir,
            stop_wait_s=stop_wait_s,
            log=self.log,
            stop_as_group=False,  # a clean stop signals the driver, which stops its queries and JVM
            restart=self.DEFAULT_RESTART if restart is True else (restart or None),
        )

    # --- lifecycle ---------------------------------------------------------------------------------
    def start(self, timeout_s: float = 180) -> None:
        """Start and wait until ready; fail with the log's tail when it exits (or crashes and is
        restarted by the supervisor) or is not ready in time."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0  # this run's lines follow
        self.supervisor.add(self.program)
        self.supervisor.start(self.name)
        restarts = self.restarts()

        def ready() -> bool:
            state = self.supervisor.state(self.name)
            if state in FAILED_STATES or self.restarts() > restarts:
                failure = self.supervisor.failure(self.name) or f"{state}, restarted by the supervisor"
                raise ProcessFailed(f"{self.name} exited ({failure}):\n{self.tail()}", f"see {self.log}")
            return self.ready()

        try:
            wait_until(ready, timeout_s, f"{self.name} ready", hint=f"see {self.log}")
        except Exception:
            self.stop(kill=True)
            raise

    def ready(self) -> bool:
        return self.running()

    def running(self) -> bool:
        return self.supervisor.state(self.name) == "RUNNING"

    def alive(self) -> bool:
        """Running, or being brought back by the supervisor (starting, restarting, a restart held
        back); False once it finished, was stopped, or the supervisor gave up on it."""
        return self.supervisor.failure(self.name) is None

    def restarts(self) -> int:
        """Restarts the supervisor made since the job was started (0 without a restart policy)."""
        record = self.supervisor.record(self.name)
        return record.restarts if record else 0

    @property
    def pid(self) -> int | None:
        return self.supervisor.pid(self.name)

    def stop(self, kill: bool = False) -> None:
        """A clean stop (SIGTERM, SIGKILL after the stop wait), or with ``kill`` at once: SIGKILL to
        the whole process group (the JVM too), no clean shutdown. Neither is restarted by the
        supervisor. Returns when nothing of it is left."""
        if not self.supervisor.is_running():
            return
        try:
            info = self.supervisor.info(self.name)
        except xmlrpc.client.Fault:  # not (or no longer) one of supervisord's programs
            return
        pid = int(info["pid"]) or None
        if kill and pid is not None:
            self.supervisor.stop(self.name, wait=False)  # supervisord's own stop: not a crash
            os.killpg(pid, signal.SIGKILL)
            wait_until(lambda: self.supervisor.state(self.name) not in LIVE_STATES, 30, f"{self.name} killed")
        else:
            self.supervisor.stop(self.name)
        if pid is not None:
            wait_until(lambda: not _group_alive(pid), 60, f"{self.name}'s processes gone", every_s=0.2)

    def wait_exit(self, timeout_s: float) -> int:
        """Until the program has exited by itself and is not being restarted; its exit status."""

        def exited() -> int | None:
            if self.supervisor.failure(self.name) is None:
                return None
            return int(self.supervisor.info(self.name)["exitstatus"])

        return wait_until(exited, timeout_s, f"{self.name} finished", hint=f"see {self.log}")

    def remove(self) -> None:
        """Stop it and take it out of the supervisor (the log stays), and Prometheus' target with it."""
        self.stop()
        self.supervisor.remove(self.name)
        unregister_program(self.settings, self.name)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return f"(no log at {self.log})"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class SparkJob(Job):
    """`shopstream spark run ARGS --queries Q --checkpoint-dir D` as a program: ready once the status
    file of each of its queries says that this run of it is running (started: the demographics were
    read and the query planned)."""

    DEFAULT_RESTART = RestartPolicy(startsecs=10, startretries=0)  # a Python driver starting a JVM
    DEFAULT_SLICE = SPARK_JOB

    def __init__(
        self,
        settings: Settings,
        name: str,
        args: Sequence[str] = (),
        *,
        queries: Sequence[str] = (ENRICH, KPIS),
        checkpoint_dir: Path | None = None,
        **options: Any,
    ) -> None:
        self.queries = tuple(queries)
        self.checkpoint_dir = checkpoint_dir or default_checkpoint_dir(settings)
        command = ["spark", "run", *args, "--queries", ",".join(self.queries)]
        super().__init__(settings, name, [*command, "--checkpoint-dir", str(self.checkpoint_dir)], **options)

    def ready(self) -> bool:
        pid = self.pid
        if pid is None:
            return False
        for query in self.queries:
            status = read_status(self.checkpoint_dir, query, pid=pid)
            if status is None or status.state != "running":
                raise NotYet(
                    f"{self.name}: query {query} not running yet ({status.state if status else 'no status'})"
                )
        return True


def spark_jobs(
    settings: Settings,
    args: Sequence[str],
    *,
    prefix: str = "spark",
    env: Mapping[str, str] | None = None,
    logs: Path | None = None,
    ui_port: int | None = None,
    checkpoint_dir: Path | None = None,
) -> list[SparkJob]:
    """The job as two Spark applications: enrichment (latency-bound) and the KPI queries
    (throughput-bound, niced), so that KPI batches never take the CPU from records in flight."""
    port = ui_port or settings.spark.ui_port
    base = dict(env or {})

    def log(query: str) -> Path | None:
        return logs / f"{prefix}-{query}.log" if logs else None

    return [
        SparkJob(
            settings,
            f"{prefix}-{ENRICH}",
            args,
            queries=[ENRICH],
            checkpoint_dir=checkpoint_dir,
            env={**base, "SHOPSTREAM_SPARK_UI_PORT": str(port)},
            log=log(ENRICH),
        ),
        SparkJob(
            settings,
            f"{prefix}-{KPIS}",
            args,
            queries=[KPIS],
            checkpoint_dir=checkpoint_dir,
            env={**base, "SHOPSTREAM_SPARK_UI_PORT": str(port + 1)},
            log=log(KPIS),
            nice=settings.spark.kpi_nice,
        ),
    ]


def telemetry_job(
    settings: Settings,
    *,
    name: str = "telemetry",
    checkpoint_dir: Path | None = None,
    interval_s: float = 5.0,
) -> Job:
    """The telemetry sampler (`shopstream pipeline telemetry`) as a program of the supervisor."""
    args = ["pipeline", "telemetry", "--interval", f"{interval_s:g}"]
    if checkpoint_dir is not None:
        args += ["--checkpoint-dir", str(checkpoint_dir)]
    return Job(settings, name, args, given=TELEMETRY)


def _names_of(env: Mapping[str, str]) -> dict[str, str]:
    """SHOPSTREAM_* variables as the settings' names (``replace`` validates them)."""
    return {name.removeprefix("SHOPSTREAM_").lower(): value for name, value in env.items()}


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
