"""A throwaway copy of the whole pipeline, for benchmarks, fault runs and end-to-end tests.

It runs exactly what `shopstream run` runs, on resources of its own named with one prefix (topics,
subjects, the sink connectors, consumer groups, an InfluxDB database), all removed by ``teardown``:
the contracts registered, the demographics loaded, the three InfluxDB sink connectors deployed
into its database, the telemetry sampler and the Spark job (two applications) started as programs
of the stack's supervisor; the producer runs per call of ``producer``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient, provision_database
from shopstream.clients.kafka_acls import ensure_pipeline
from shopstream.contracts import SINK_CONNECTOR_CLASS, shop_events
from shopstream.errors import InfluxError
from shopstream.ops import demographics, registration
from shopstream.ops.deploy import ConnectorSpec, deploy, load_specs
from shopstream.ops.jobs import PRODUCER, Job, SparkJob, spark_jobs, telemetry_job
from shopstream.ops.scratch import ALL_KINDS, remove
from shopstream.settings import Settings
from shopstream.stack.paths import StackPaths
from shopstream.stack.stack import service_names
from shopstream.stack.supervisor import Supervisor

Report = Callable[[str], None]


class Trial:
    """One throwaway pipeline: ``kind`` names it (``bench.e2e``, ``chaos``, ``test``)."""

    def __init__(self, settings: Settings, kind: str, report: Report = lambda _line: None) -> None:
        token = uuid.uuid4().hex[:8]
        self.prefix = f"{kind}.{token}"
        self.name = f"{kind.replace('.', '-')}-{token}"  # programs, connectors: no dots needed
        self.database = f"{kind.replace('.', '_')}_{token}"
        self.root = settings
        self.settings = settings.with_topic_prefix(self.prefix).replace(influxdb_database=self.database)
        self.workdir = settings.stack.state_dir / "trials" / self.name
        self.report = report
        self.jobs: list[Job] = []
        self.connectors: list[str] = []

    @property
    def checkpoints(self) -> Path:
        return self.workdir / "checkpoints"

    @property
    def spark(self) -> list[SparkJob]:
        return [job for job in self.jobs if isinstance(job, SparkJob)]

    def pids(self) -> dict[str, int | None]:
        """The processes of the stack's services and of the trial's running programs, by name."""
        supervisor = Supervisor(StackPaths.of(self.root))
        names = [
            *service_names(self.root),
            *(n for n in supervisor.programs() if n.startswith(f"{self.name}-")),
        ]
        return {name.removeprefix(f"{self.name}-"): supervisor.pid(name) for name in names}

    def setup(self, telemetry_s: float = 5.0, ui_port: int | None = None) -> None:
        s = self.settings
        ensure_pipeline(s)
        registration.register(s, lambda _line: None)
        registration.evolve(s, lambda _line: None)
        demographics.load(s)
        # the database, the events' retention policy and the grants: the telemetry writes from the start
        provision_database(s.influxdb, self.database)
        sinks = [spec for spec in load_specs(s) if spec.connector_class == SINK_CONNECTOR_CLASS]
        renamed = [_renamed(spec, f"{self.prefix}-{spec.name}") for spec in sinks]
        self.connectors = [spec.name for spec in renamed]
        for line in deploy(ConnectClient(s.connect), renamed):
            self.report(f"  {line}")
        self.jobs = [
            telemetry_job(
                s, name=f"{self.name}-telemetry", checkpoint_dir=self.checkpoints, interval_s=telemetry_s
            ),
            *spark_jobs(
                s,
                [],
                prefix=self.name,
                logs=self.workdir,
                ui_port=ui_port or self.root.spark.ui_port + 20,
                checkpoint_dir=self.checkpoints,
            ),
        ]
        for job in self.jobs:
            self.report(f"  starting {job.name}")
            job.start()

    def producer(
        self, rate: float, duration_s: float, seed: int, name: str = "producer", extra: Sequence[str] = ()
    ) -> Job:
        """`shopstream produce` at ``rate`` for ``duration_s`` (a finish is not restarted), not started;
        ``extra``: more of its options (e.g. ``--resend``)."""
        args = [
            "produce",
            "--rate",
            f"{rate:g}",
            "--duration",
            f"{duration_s:g}",
            "--seed",
            str(seed),
            *extra,
        ]
        return Job(
            self.settings,
            f"{self.name}-{name}",
            # its summary as a file (``summary_path``): what `bench e2e` reads after each step
            [*args, "--stats-interval", "1000", "--summary-json", str(self.summary_path(name))],
            log=self.workdir / f"{name}.log",
            restart=False,
            given=PRODUCER,
        )

    def summary_path(self, producer: str) -> Path:
        """Where the producer ``producer`` writes its run's summary (``producer.run.RunSummary``)."""
        return self.workdir / f"{producer}.summary.json"

    def event_points(self, client: InfluxClient, start_ms: int = 0, end_ms: int | None = None) -> int:
        """Event points in the trial's database with event time in [start, end)."""
        measurement = shop_events().qualified(self.settings)
        q = f'SELECT count("event_id") FROM {measurement} WHERE time >= {start_ms}ms'
        q += f" AND time < {end_ms}ms" if end_ms is not None else ""
        try:
            rows = [row for series in client.query(q) for row in series.rows]
        except InfluxError as exc:
            if "retention policy not found" in exc.message:
                return 0  # not provisioned (yet)
            raise
        return int(rows[0]["count"]) if rows else 0

    def teardown(self) -> None:
        """Stop its programs and remove everything it created (connectors, groups, topics, subjects,
        database), however the trial ended."""
        for job in self.jobs:
            job.remove()
        remove(self.root, [self.prefix, self.database], ALL_KINDS)


def _renamed(spec: ConnectorSpec, name: str) -> ConnectorSpec:
    return ConnectorSpec(name, {**spec.config, "name": name}, spec.source)
