"""`bench sink`: points/s through the InfluxDB sink connector vs a direct batched write of the same
points to the same InfluxDB, in the same run.

1. Load (not measured): a pipeline of the run's own (``bench.<id>.*`` topics with their ACLs, the
   contracts registered) and N records of the shape's topic, sent by the producer's ``AvroSender``:
   enriched events (the producer's traffic model joined with the demographics) or campaign KPIs.
2. The connector (measured): the project's connector file under the run's names, ``tasks.max`` =
   partitions, into a throwaway database; timed from its first to its last written point (the sink's
   ``points-written-total`` over its tasks, read from Jolokia every ``poll_s``) and from deploy to
   done, with the CPU seconds InfluxDB and Connect used meanwhile.
3. The reference, the ceiling (measured): the very points the connector stored, read back (not
   measured) and written straight to ``/write`` into another throwaway database, in batches of the
   connector's ``batch.size``, gzip'd at its ``influxdb.gzip.level``, by as many concurrent writers
   as the connector has tasks; timed over the HTTP writes only, with InfluxDB's CPU seconds.
4. Checks: each database holds exactly N points with the integer sums of the records sent, and the
   reference's earliest points equal the connector's.

Everything the run creates goes afterwards, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import gzip
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import count as counter
from typing import Any

import requests

from producer.run import RunLimits, run
from producer.sender import AvroSender
from shopstream.bench.cpu import CpuMeter, listening_pid
from shopstream.bench.records import enriched_events, kpi_campaign_records
from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient, line, provision_database
from shopstream.clients.jolokia import JolokiaClient
from shopstream.clients.kafka_acls import ensure_pipeline
from shopstream.connector_file import ConnectorFile
from shopstream.contracts import Measurement, sink_contract, sink_measurement
from shopstream.errors import ConnectError, InfluxError, ShopstreamError, Timeout
from shopstream.ops import registration
from shopstream.ops.deploy import load_spec
from shopstream.ops.scratch import ALL_KINDS, remove
from shopstream.settings import Settings
from shopstream.stats import percentile

SHAPES = {"events": "influxdb-events.json", "kpi": "influxdb-kpi-campaign.json"}
GOAL_RATIO = 0.8
GOAL_POINTS_PER_S = 100_000
GOAL_CONNECT_CPU_US = 10.0  # Connect's CPU per record
DEFAULT_BATCH_SIZE = 5_000  # the connector's batch.size default
DEFAULT_GZIP_LEVEL = 1  # the connector's influxdb.gzip.level default
EXPORT_WINDOW_NS = 300 * 10**9  # the stored points are read back five minutes of time at a time

Progress = Callable[[str, int, int | None], None]  # (phase, done so far, total or None)
Report = Callable[[str], None]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    max_ms: float

    @classmethod
    def of(cls, values: list[float]) -> Latency:
        ordered = sorted(values)
        p50, p95, p99 = (round(percentile(ordered, p), 1) for p in (50, 95, 99))
        return cls(p50, p95, p99, round(statistics.fmean(ordered), 1), round(ordered[-1], 1))

    @classmethod
    def of_task(cls, metrics: Mapping[str, float]) -> Latency:
        """The sink's own write latency of one task (its metrics over the worker's sample windows)."""
        names = ("p50", "p95", "p99", "avg", "max")
        return cls(*(round(metrics.get(f"write-latency-{n}", 0.0), 1) for n in names))


@dataclass(frozen=True)
class DirectFigures:
    points: int
    writers: int
    requests: int
    seconds: float
    points_per_s: float
    body_mb: float  # compressed bytes sent
    latency: Latency  # per request, from this process
    influxdb_cpu_s: float | None  # CPU time InfluxDB used meanwhile (when it runs on this machine)


@dataclass(frozen=True)
class ConnectorFigures:
    points: int
    tasks: int
    seconds: float  # first to last written point (as seen by polling)
    points_per_s: float
    seconds_deploy_to_done: float
    points_per_s_deploy_to_done: float
    requests: int
    retries: int
    records_dlq: int
    latency_by_task: dict[int, Latency]  # the sink's Percentiles over the worker's sample windows
    latency_max_over_tasks: Latency
    influxdb_cpu_s: float | None  # CPU time meanwhile (deploy to done), when on this machine
    connect_cpu_s: float | None
    connect_cpu_us_per_record: float | None


@dataclass
class Run:
    """The names of one run's throwaway resources, and what it measured of the records sent."""

    run_id: str
    settings: Settings  # the run's pipeline: its topics, the sink's database
    connector: str
    direct_db: str
    integer_sums: dict[str, int] = field(default_factory=dict)
    earliest_ns: int = 0  # the time of the earliest point (write precision: ns)

    @property
    def prefixes(self) -> list[str]:
        return [f"bench.{self.run_id}", f"bench_{self.run_id}"]


class SinkBench:
    """One run of the benchmark; ``run`` removes whatever it created, whatever happens."""

    def __init__(
        self,
        settings: Settings,
        count: int = 1_000_000,
        partitions: int = 3,
        shape: str = "events",
        poll_s: float = 0.1,
        progress: Progress | None = None,
        report: Report | None = None,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        if shape not in SHAPES:
            raise ShopstreamError(f"unknown shape {shape!r}", f"one of {', '.join(SHAPES)}")
        self.root = settings
        self.count = count
        self.partitions = partitions
        self.shape = shape
        self.file = ConnectorFile.read(SHAPES[shape])
        self.measurement: Measurement = sink_measurement(self.file)
        self.extra_config = extra_config or {}
        effective = {**self.file.config, **self.extra_config}
        self.batch_size = int(effective.get("batch.size", DEFAULT_BATCH_SIZE))
        self.gzip_level = int(effective.get("influxdb.gzip.level", DEFAULT_GZIP_LEVEL))
        self.poll_s = poll_s
        self.progress: Progress = progress or (lambda _phase, _done, _total: None)
        self.report: Report = report or (lambda _line: None)
        run_id = uuid.uuid4().hex[:8]
        pipeline = settings.with_topic_prefix(f"bench.{run_id}")
        self.run_ = Run(
            run_id,
            pipeline.replace(topic_partitions=partitions, influxdb_database=f"bench_{run_id}_sink"),
            connector=f"bench.{run_id}-sink",
            direct_db=f"bench_{run_id}_direct",
        )

    # --- the run -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        load_before = os.getloadavg()
        try:
            self._load()
            connector, sink_rows = self._connector()
            bodies = self._export()
            direct, direct_rows = self._direct(bodies)
        finally:
            remove(self.root, self.run_.prefixes, ALL_KINDS)
        if direct_rows != sink_rows:
            raise ShopstreamError(
                "the direct write's earliest points differ from the connector's",
                f"direct: {direct_rows[:2]} connector: {sink_rows[:2]}",
            )
        ratio = connector.points_per_s / direct.points_per_s if direct.points_per_s else 0.0
        cpu_us = connector.connect_cpu_us_per_record
        return {
            "benchmark": "sink",
            "shape": self.shape,
            "connector_file": self.file.path.name,
            "measurement": self.measurement.name,
            "fields_per_point": len(self.measurement.fields),
            "tags": list(self.measurement.tags),
            "records": self.count,
            "partitions": self.partitions,
            "batch_size": self.batch_size,
            "gzip_level": self.gzip_level,
            "extra_config": self.extra_config,
            "cpus": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "direct": asdict(direct),
            "connector": asdict(connector),
            "ratio": round(ratio, 3),
            "checks": {
                "points_in_each_database": self.count,
                "integer_sums_equal": self.run_.integer_sums,
                "earliest_points_identical": len(sink_rows),
            },
            "goals": {
                f"ratio >= {GOAL_RATIO}": ratio >= GOAL_RATIO,
                f"direct write >= {GOAL_POINTS_PER_S:,} points/s": direct.points_per_s >= GOAL_POINTS_PER_S,
                f"Connect CPU <= {GOAL_CONNECT_CPU_US:g} us/record": cpu_us is not None
                and cpu_us <= GOAL_CONNECT_CPU_US,
            },
        }

    # --- 1. load ---------------------------------------------------------------------------------------
    def _records(self) -> Iterator[dict[str, Any]]:
        now_ms = time.time_ns() // 1_000_000
        if self.shape == "events":
            # the last hour: inside the measurement's retention policy
            return enriched_events(self.count, seed=11, start_ms=now_ms - 3_600_000, span_ms=3_500_000)
        windows = -(-self.count // 1_000)
        return kpi_campaign_records(self.count, seed=11, start_ms=now_ms - (windows + 1) * 60_000)

    def _load(self) -> None:
        """The run's topics, ACLs and contracts; the records sent (acknowledged), their integer sums."""
        pipeline = self.run_.settings
        ensure_pipeline(pipeline)
        registration.register(pipeline, lambda _line: None)
        registration.evolve(pipeline, lambda _line: None)
        contract = sink_contract(self.file)
        topic = contract.topic_name(pipeline)
        # the benchmark's loader writes in the Spark job's place: as the admin
        sender = AvroSender(pipeline, topic=topic, schema_file=contract.files[-1], role="admin")
        self.report(f"topic {topic} ({self.partitions} partitions), schema id {sender.schema_id}")
        sums = dict.fromkeys(self.measurement.integer_fields, 0)
        key_field = "user_id" if self.shape == "events" else "campaign_id"

        def counted(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for record in records:
                for name in sums:
                    if record.get(name) is not None:
                        sums[name] += record[name]
                yield record

        result = run(
            sender,
            counted(self._records()),
            RunLimits(count=self.count, stats_interval_s=1e9),
            report=self.report,
            key=lambda record: str(record[key_field]).encode(),
            progress=lambda n: self.progress("loading the topic", n, self.count),
        )
        if result.counters["acked"] != self.count:
            raise ShopstreamError(f"{result.counters['acked']:,} of {self.count:,} records acknowledged")
        self.run_.integer_sums = sums

    # --- 2. the connector --------------------------------------------------------------------------------
    def _connector(self) -> tuple[ConnectorFigures, list[dict[str, Any]]]:
        pipeline, name = self.run_.settings, self.run_.connector
        provision_database(pipeline.influxdb)  # the sink may write, not create
        spec = load_spec(pipeline, self.file.path)
        config = {**spec.config, "name": name, "tasks.max": str(self.partitions), **self.extra_config}
        connect, jolokia = ConnectClient(self.root.connect), JolokiaClient(self.root.connect)
        cpu = CpuMeter({service: listening_pid(url) for service, url in self._urls().items()})
        deployed_at = time.perf_counter()
        resp = connect.request("PUT", f"/connectors/{name}/config", json=config)
        if not resp.ok:
            raise ConnectError(f"PUT {name}: {resp.status_code} {resp.text[:500]}")
        try:
            tasks, first, last = self._watch(connect, jolokia, deployed_at)
        finally:
            jolokia.close()
        done_at = time.perf_counter()
        used = cpu.used()
        figures = _connector_figures(tasks, first, last, deployed_at, done_at, self.count, used)
        self.report(f"connector: {figures.points_per_s:,.0f} points/s first to last point")
        return figures, self._verify(pipeline.influxdb.database)

    def _urls(self) -> dict[str, str]:
        return {"influxdb": self.root.influxdb.url, "connect": self.root.connect.url}

    def _watch(
        self, connect: ConnectClient, jolokia: JolokiaClient, deployed_at: float
    ) -> tuple[dict[int, dict[str, float]], tuple[float, float], tuple[float, float]]:
        """Until the tasks have written (or dead-lettered) every record: the tasks' metrics, and when
        the first and the last points were seen (perf_counter, points written then)."""
        first: tuple[float, float] | None = None
        last = (deployed_at, 0.0)
        next_status = time.perf_counter() + 2
        deadline = deployed_at + max(300.0, self.count / 5_000)
        while True:
            tasks = jolokia.sink_tasks(self.run_.connector)
            now = time.perf_counter()
            points = sum(t.get("points-written-total", 0.0) for t in tasks.values())
            handled = sum(
                t.get("records-written-total", 0.0) + t.get("records-dlq-total", 0.0) for t in tasks.values()
            )
            if points and first is None:
                first = (now, points)
            if points > last[1]:
                last = (now, points)
            self.progress("connector writing", int(handled), self.count)
            if handled >= self.count and first is not None:
                return tasks, first, last
            if now >= next_status:
                connect.wait_running(self.run_.connector, timeout_s=30)  # raises when a task FAILED
                next_status = now + 2
            if now > deadline:
                took = now - deployed_at
                raise Timeout(f"the connector wrote {handled:,.0f} of {self.count:,} records in {took:.0f} s")
            time.sleep(self.poll_s)

    # --- 3. the reference ----------------------------------------------------------------------------------
    def _export(self) -> list[bytes]:
        """The connector's points, read back as line protocol (ns times), gzip'd in batches."""
        client = self._client(self.run_.settings.influxdb.database)
        m, where = self.measurement, self.measurement.qualified(self.run_.settings)
        bodies: list[bytes] = []
        batch: list[str] = []
        start = self.run_.earliest_ns
        read = 0
        try:
            while read < self.count:
                q = f"SELECT * FROM {where} WHERE time >= {start} AND time < {start + EXPORT_WINDOW_NS}"
                for row in (r for s in client.query(q, epoch="ns") for r in s.rows):
                    tags = {t: str(row[t]) for t in m.tags if row.get(t) not in (None, "")}
                    fields = {f: row[f] for f in m.fields if row.get(f) is not None}
                    for name in m.float_fields:
                        if name in fields:
                            fields[name] = float(fields[name])
                    batch.append(line(m.name, tags, fields, int(row["time"])))
                    read += 1
                    if len(batch) == self.batch_size:
                        bodies.append(gzip.compress("\n".join(batch).encode(), self.gzip_level))
                        batch.clear()
                self.progress("reading the points back", read, self.count)
                start += EXPORT_WINDOW_NS
        finally:
            client.query(f'DROP DATABASE "{self.run_.settings.influxdb.database}"')  # no compaction meanwhile
            client.close()
        if batch:
            bodies.append(gzip.compress("\n".join(batch).encode(), self.gzip_level))
        return bodies

    def _direct(self, bodies: list[bytes]) -> tuple[DirectFigures, list[dict[str, Any]]]:
        database = self.run_.direct_db
        direct = self.run_.settings.replace(influxdb_database=database)
        provision_database(direct.influxdb)  # with the connector's retention policy
        rp = self.measurement.rp(direct)
        params = {"db": database, "precision": "n", **({"rp": rp} if rp else {})}
        login = self.root.influxdb.login("writer")  # the sink connector's identity
        url = f"{self.root.influxdb.url}/write"
        pending, lock = counter(), threading.Lock()
        latencies: list[float] = []

        def writer() -> None:
            with requests.Session() as session:
                session.auth = (login.user, login.secret)
                headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
                while (index := next(pending)) < len(bodies):
                    began = time.perf_counter()
                    resp = session.post(url, params=params, data=bodies[index], headers=headers, timeout=120)
                    took = (time.perf_counter() - began) * 1000
                    if resp.status_code != 204:
                        raise InfluxError(f"direct write: HTTP {resp.status_code} {resp.text[:300]}")
                    with lock:
                        latencies.append(took)
                        self.progress("direct write", len(latencies), len(bodies))

        cpu = CpuMeter({"influxdb": listening_pid(self.root.influxdb.url)})
        began = time.perf_counter()
        with ThreadPoolExecutor(self.partitions) as pool:
            for future in [pool.submit(writer) for _ in range(self.partitions)]:
                future.result()
        seconds = time.perf_counter() - began
        influx_cpu_s = cpu.used()["influxdb"]
        figures = DirectFigures(
            points=self.count,
            writers=self.partitions,
            requests=len(bodies),
            seconds=round(seconds, 3),
            points_per_s=round(self.count / seconds, 1),
            body_mb=round(sum(len(b) for b in bodies) / 1e6, 1),
            latency=Latency.of(latencies),
            influxdb_cpu_s=influx_cpu_s,
        )
        self.report(f"direct write: {figures.points_per_s:,.0f} points/s ({seconds:.2f} s)")
        return figures, self._verify(database)

    # --- 4. checks -------------------------------------------------------------------------------------
    def _client(self, database: str) -> InfluxClient:
        return InfluxClient(self.root.influxdb, database=database, timeout_s=120, role="admin")

    def _verify(self, database: str) -> list[dict[str, Any]]:
        """The database holds exactly N points with the records' integer sums; returns its earliest
        points (all columns, ns times) for the comparison of both sides."""
        m = self.measurement
        where = m.qualified(self.run_.settings)
        count_field = next(f for f in m.integer_fields if f in self.run_.integer_sums)
        selects = [f'count("{count_field}")', *(f'sum("{name}")' for name in m.integer_fields)]
        client = self._client(database)
        try:
            found = client.query(f"SELECT {', '.join(selects)} FROM {where}")
            if not found:
                raise ShopstreamError(f"{database} holds no point", "see the connector's log")
            values = [v for k, v in found[0].rows[0].items() if k != "time"]
            count, sums = values[0], dict(zip(m.integer_fields, values[1:], strict=True))
            if count != self.count:
                raise ShopstreamError(f"{database} holds {count:,} points, not {self.count:,}")
            if sums != self.run_.integer_sums:
                raise ShopstreamError(
                    f"{database}: integer sums {sums} != the records' {self.run_.integer_sums}"
                )
            earliest = client.query(f"SELECT * FROM {where} ORDER BY time LIMIT 20", epoch="ns")
        finally:
            client.close()
        rows = [r for s in earliest for r in s.rows]
        self.run_.earliest_ns = min(int(r["time"]) for r in rows)
        return rows


def _connector_figures(
    tasks: dict[int, dict[str, float]],
    first: tuple[float, float],
    last: tuple[float, float],
    deployed_at: float,
    done_at: float,
    records: int,
    cpu_s: Mapping[str, float | None],
) -> ConnectorFigures:
    by_task = {task: Latency.of_task(metrics) for task, metrics in sorted(tasks.items())}
    worst = Latency(*(max(getattr(lat, f) for lat in by_task.values()) for f in Latency.__dataclass_fields__))
    span = last[0] - first[0]
    connect_cpu = cpu_s.get("connect")

    def total(metric: str) -> int:
        return int(sum(t.get(metric, 0.0) for t in tasks.values()))

    return ConnectorFigures(
        points=total("points-written-total"),
        tasks=len(tasks),
        seconds=round(span, 3),
        points_per_s=round((last[1] - first[1]) / span, 1) if span > 0 else 0.0,
        seconds_deploy_to_done=round(done_at - deployed_at, 3),
        points_per_s_deploy_to_done=round(records / (done_at - deployed_at), 1),
        requests=total("write-requests-total"),
        retries=total("retries-total"),
        records_dlq=total("records-dlq-total"),
        latency_by_task=by_task,
        latency_max_over_tasks=worst,
        influxdb_cpu_s=cpu_s.get("influxdb"),
        connect_cpu_s=connect_cpu,
        connect_cpu_us_per_record=None if connect_cpu is None else round(connect_cpu * 1e6 / records, 1),
    )


def bench_sink(
    settings: Settings,
    count: int = 1_000_000,
    partitions: int = 3,
    shape: str = "events",
    progress: Progress | None = None,
    report: Report | None = None,
    extra_config: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the benchmark once (see the module's doc); the result as a JSON-ready dict."""
    bench = SinkBench(
        settings, count, partitions, shape, progress=progress, report=report, extra_config=extra_config
    )
    return bench.run()
