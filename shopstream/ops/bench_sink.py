"""`bench sink`: points/s through the InfluxDB sink connector vs a direct batched write of the same
points to the same InfluxDB, in the same run.

1. A fresh topic ``bench.<id>.sink`` (``partitions``) is pre-filled with N Avro records in the
   Confluent wire format under the registered contract (not measured). The points the sink will
   write for them are built at the same time, with the connector's own mapping
   (:class:`~shopstream.ops.sink_load.SinkMapping`): same measurement, tags, fields, types, times.
2. Reference (the ceiling): those points written straight to InfluxDB's ``/write`` in batches of
   the connector's ``batch.size``, gzip-compressed at its ``influxdb.gzip.level``, by as many
   concurrent writers as the connector has tasks, into a throwaway database (and the connector's
   retention policy). Timed over the HTTP writes only (bodies are built and compressed beforehand).
3. The connector: the project's connector file with topic, database, DLQ topic and name replaced and
   ``tasks.max`` = partitions, deployed into another throwaway database. Timed from its first to
   its last written point (the sink's ``points-written-total`` over its tasks, read from Jolokia
   every ``poll_s``), and also from deploy to done.
4. Both databases must hold exactly N points with the same integer sums, and their earliest points
   must be identical; the connector's write-latency percentiles come from its metrics.

Topics, subject, databases, connector and its consumer group are removed afterwards, also after a
failure or Ctrl-C.
"""

from __future__ import annotations

import gzip
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from confluent_kafka.admin import AclOperation, NewTopic, ResourceType

from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient, provision_database
from shopstream.clients.jolokia import JolokiaClient
from shopstream.clients.kafka import admin_client
from shopstream.clients.kafka_acls import Grant, delete_acls, ensure_acls
from shopstream.clients.registry import registry_client
from shopstream.contracts import subject
from shopstream.errors import ConnectError, InfluxError, ShopstreamError, Timeout
from shopstream.ops.connectors import load_spec, wait_running
from shopstream.ops.cpu import CpuMeter, listening_pid
from shopstream.ops.sink_load import SinkMapping, enriched_records, kpi_campaign_records, produce
from shopstream.settings import Settings

SHAPES = {"events": "influxdb-events.json", "kpi": "influxdb-kpi-campaign.json"}
GOAL_RATIO = 0.6
GOAL_POINTS_PER_S = 100_000
DEFAULT_BATCH_SIZE = 5_000  # the connector's batch.size default
DEFAULT_GZIP_LEVEL = 1  # the connector's influxdb.gzip.level default

Progress = Callable[[str, int, int | None], None]  # (phase, done so far, total or None)
Report = Callable[[str], None]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    avg_ms: float
    max_ms: float


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


@dataclass
class BenchSetup:
    run_id: str
    topic: str
    dlq_topic: str
    subject: str
    direct_db: str
    sink_db: str
    connector: str
    created_topics: list[str] = field(default_factory=list)
    created_subject: bool = False
    created_dbs: list[str] = field(default_factory=list)
    created_acls: list[str] = field(default_factory=list)
    deployed: bool = False


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


class SinkBench:
    """One run of the benchmark; ``run`` cleans up whatever it created, whatever happens."""

    def __init__(
        self,
        settings: Settings,
        count: int = 1_000_000,
        partitions: int = 3,
        shape: str = "events",
        batch_size: int | None = None,
        poll_s: float = 0.1,
        progress: Progress | None = None,
        report: Report | None = None,
        extra_config: dict[str, str] | None = None,
    ) -> None:
        if shape not in SHAPES:
            raise ShopstreamError(f"unknown shape {shape!r}", f"one of {', '.join(SHAPES)}")
        self.settings = settings
        self.count = count
        self.partitions = partitions
        self.shape = shape
        self.mapping = SinkMapping.of(SHAPES[shape])
        self.extra_config = extra_config or {}
        effective = {**self.mapping.raw_config, **self.extra_config}
        self.batch_size = batch_size or int(effective.get("batch.size", DEFAULT_BATCH_SIZE))
        self.gzip_level = int(effective.get("influxdb.gzip.level", DEFAULT_GZIP_LEVEL))
        self.poll_s = poll_s
        self.progress: Progress = progress or (lambda _phase, _done, _total: None)
        self.report: Report = report or (lambda _line: None)
        run_id = uuid.uuid4().hex[:8]
        topic = f"bench.{run_id}.sink"
        self.setup = BenchSetup(
            run_id=run_id,
            topic=topic,
            dlq_topic=f"{topic}.dlq",
            subject=subject(topic),
            direct_db=f"bench_{run_id}_direct",
            sink_db=f"bench_{run_id}_sink",
            connector=f"bench-{run_id}-sink",
        )
        self.connect = ConnectClient(settings)
        self.registry = registry_client(settings, "admin")
        self.admin = admin_client(settings)
        self.expected_sums: dict[str, int] = {}
        self.window = (0, 0)  # times (write precision) of the earliest points

    # --- the run -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        load_before = os.getloadavg()
        try:
            bodies = self._prefill()
            direct, direct_rows = self._direct(bodies)
            del bodies
            connector, sink_rows = self._connector()
            if sink_rows != direct_rows:
                raise ShopstreamError(
                    "the connector's earliest points differ from the direct write's",
                    f"direct: {direct_rows[:2]} connector: {sink_rows[:2]}",
                )
        finally:
            self.cleanup()
        ratio = connector.points_per_s / direct.points_per_s if direct.points_per_s else 0.0
        return {
            "benchmark": "sink",
            "shape": self.shape,
            "connector_file": self.mapping.connector_file.name,
            "measurement": self.mapping.measurement,
            "fields_per_point": len(self.mapping.fields),
            "tags": list(self.mapping.tags),
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
                "integer_sums_equal": self.expected_sums,
                "earliest_points_identical": len(sink_rows),
            },
            "goals": {
                f"ratio >= {GOAL_RATIO}": ratio >= GOAL_RATIO,
                f"connector >= {GOAL_POINTS_PER_S:,} points/s": connector.points_per_s >= GOAL_POINTS_PER_S,
            },
        }

    # --- 1. pre-fill -----------------------------------------------------------------------------------
    def _records(self) -> Iterator[dict[str, Any]]:
        now_ms = time.time_ns() // 1_000_000
        if self.shape == "events":
            # the last hour: inside the measurement's retention policy
            return enriched_records(self.count, seed=11, start_ms=now_ms - 3_600_000, span_ms=3_500_000)
        windows = -(-self.count // 1_000)
        return kpi_campaign_records(self.count, seed=11, start_ms=now_ms - (windows + 1) * 60_000)

    def _prefill(self) -> list[bytes]:
        """Fill the topic; return the gzipped bodies of the direct write (and note the expected
        integer sums and the time window of the earliest points)."""
        s, m = self.setup, self.mapping
        self.admin.create_topics([NewTopic(s.topic, self.partitions, 1)])[s.topic].result()
        s.created_topics.append(s.topic)
        schema_id = self.registry.register(s.subject, _schema_text(m))
        s.created_subject = True
        self.report(f"topic {s.topic} ({self.partitions} partitions), {s.subject} id {schema_id}")

        bodies: list[bytes] = []
        sums = dict.fromkeys(m.integer_fields, 0)
        earliest: list[int] = []
        lines: list[str] = []
        done = [0]

        def values() -> Iterator[tuple[bytes | None, bytes]]:
            for record in self._records():
                for name in m.integer_fields:
                    value = record.get(name)
                    if value is not None:
                        sums[name] += value
                if len(earliest) < 20:
                    earliest.append(m.time_of(record))
                lines.append(m.line(record))
                if len(lines) == self.batch_size:
                    bodies.append(gzip.compress("\n".join(lines).encode(), self.gzip_level))
                    lines.clear()
                key = str(record.get("user_id", record.get("campaign_id", ""))).encode()
                yield key, m.avro(record, schema_id)

        def advanced(n: int) -> None:
            done[0] += n
            self.progress("pre-filling the topic", done[0], self.count)

        sent = produce(self.settings, s.topic, values(), advanced)
        if lines:
            bodies.append(gzip.compress("\n".join(lines).encode(), self.gzip_level))
        self.progress("pre-filling the topic", sent, self.count)
        self.expected_sums, self.window = sums, (min(earliest), max(earliest))
        return bodies

    # --- 2. direct write -------------------------------------------------------------------------------
    def _create_db(self, name: str) -> InfluxClient:
        """The database with the retention policies and grants of a pipeline's (the writer writes)."""
        self.setup.created_dbs.append(name)
        provision_database(self.settings, name)
        return InfluxClient(self.settings, database=name, timeout_s=120, role="admin")

    def _direct(self, bodies: list[bytes]) -> tuple[DirectFigures, list[dict[str, Any]]]:
        s, m = self.setup, self.mapping
        client = self._create_db(s.direct_db)  # with the connector's retention policy
        rp = m.rp(self.settings)
        params = {"db": s.direct_db, "precision": {"ns": "n", "us": "u", "ms": "ms"}[m.precision]}
        if rp:
            params["rp"] = rp
        login = self.settings.influxdb_login("writer")  # the sink connector's identity
        auth = (login.user, login.secret)
        url = f"{self.settings.influxdb_url}/write"
        writers = self.partitions
        pending = iter(range(len(bodies)))
        lock = threading.Lock()
        latencies: list[float] = []
        written = [0]

        def writer() -> None:
            with requests.Session() as session:
                session.auth = auth
                headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
                while True:
                    with lock:
                        index = next(pending, None)
                    if index is None:
                        return
                    began = time.perf_counter()
                    resp = session.post(url, params=params, data=bodies[index], headers=headers, timeout=120)
                    took = (time.perf_counter() - began) * 1000
                    if resp.status_code != 204:
                        raise InfluxError(f"direct write: HTTP {resp.status_code} {resp.text[:300]}")
                    with lock:
                        latencies.append(took)
                        written[0] += 1
                        self.progress("direct write", written[0], len(bodies))

        influx_cpu = CpuMeter.of_url("influxdb", self.settings.influxdb_url)
        began = time.perf_counter()
        with ThreadPoolExecutor(writers) as pool:
            for future in [pool.submit(writer) for _ in range(writers)]:
                future.result()
        seconds = time.perf_counter() - began
        influx_cpu_s = influx_cpu.used()["influxdb"]
        rows = self._verify(client)
        client.query(f'DROP DATABASE "{s.direct_db}"')  # its compactions must not compete with the connector
        s.created_dbs.remove(s.direct_db)
        client.close()
        latencies.sort()
        figures = DirectFigures(
            points=self.count,
            writers=writers,
            requests=len(bodies),
            seconds=round(seconds, 3),
            points_per_s=round(self.count / seconds, 1),
            body_mb=round(sum(len(b) for b in bodies) / 1e6, 1),
            latency=Latency(
                round(_percentile(latencies, 50), 1),
                round(_percentile(latencies, 95), 1),
                round(_percentile(latencies, 99), 1),
                round(statistics.fmean(latencies), 1),
                round(latencies[-1], 1),
            ),
            influxdb_cpu_s=influx_cpu_s,
        )
        self.report(f"direct write: {figures.points_per_s:,.0f} points/s ({seconds:.2f} s)")
        return figures, rows

    def _verify(self, client: InfluxClient) -> list[dict[str, Any]]:
        """The database holds exactly N points with the expected integer sums; returns its earliest
        points (all columns, ns times) for the comparison of both sides."""
        m = self.mapping
        where = m.qualified(self.settings)
        selects = [f'count("{m.count_field}")', *(f'sum("{name}")' for name in m.integer_fields)]
        found = client.query(f"SELECT {', '.join(selects)} FROM {where}")
        if not found:
            raise ShopstreamError(f"{client.database} holds no point", "see the connector's log")
        row = found[0].rows[0]
        values = [v for k, v in row.items() if k != "time"]
        count, got_sums = values[0], dict(zip(m.integer_fields, values[1:], strict=True))
        if count != self.count:
            raise ShopstreamError(f"{client.database} holds {count:,} points, not {self.count:,}")
        if got_sums != self.expected_sums:
            raise ShopstreamError(
                f"{client.database}: integer sums {got_sums} != expected {self.expected_sums}"
            )
        low, high = self.window
        earliest = client.query(f"SELECT * FROM {where} WHERE time >= {low} AND time <= {high}", epoch="ns")
        return [r for s in earliest for r in s.rows]

    # --- 3. the connector ------------------------------------------------------------------------------
    def _connector_config(self) -> dict[str, str]:
        s, m = self.setup, self.mapping
        changes: dict[str, Any] = {m.topic_setting: s.topic, "influxdb_database": s.sink_db}
        if m.dlq_setting:
            changes[m.dlq_setting] = s.dlq_topic
        spec = load_spec(self.settings.replace(**changes), m.connector_file)
        config = {**spec.config, "name": s.connector, "tasks.max": str(self.partitions), **self.extra_config}
        return config

    def _grant_connect(self) -> None:
        """The Connect role reads the topic and writes (and creates) the DLQ; the ACLs go afterwards."""
        s = self.setup
        s.created_acls = [s.topic, s.dlq_topic]
        op, topic = AclOperation, ResourceType.TOPIC
        grants = [
            Grant("connect", topic, s.topic, (op.READ, op.DESCRIBE)),
            Grant("connect", topic, s.dlq_topic, (op.CREATE, op.WRITE, op.DESCRIBE)),
        ]
        ensure_acls(self.settings, grants)

    def _connector(self) -> tuple[ConnectorFigures, list[dict[str, Any]]]:
        s = self.setup
        config = self._connector_config()
        jolokia = JolokiaClient(self.settings)
        self._create_db(s.sink_db).close()  # the sink may write, not create; dropped afterwards
        s.created_topics.append(s.dlq_topic)
        cpu = CpuMeter(
            {
                "influxdb": listening_pid(self.settings.influxdb_url),
                "connect": listening_pid(self.settings.connect_url),
            }
        )
        self._grant_connect()
        deployed_at = time.perf_counter()
        resp = self.connect.request("PUT", f"/connectors/{s.connector}/config", json=config)
        if not resp.ok:
            raise ConnectError(f"PUT {s.connector}: {resp.status_code} {resp.text[:500]}")
        s.deployed = True
        first: tuple[float, float] | None = None
        last: tuple[float, float] = (deployed_at, 0.0)
        next_status = time.perf_counter() + 2
        deadline = deployed_at + max(300.0, self.count / 5_000)
        tasks: dict[int, dict[str, float]] = {}
        while True:
            tasks = jolokia.sink_tasks(s.connector)
            now = time.perf_counter()
            points = sum(t.get("points-written-total", 0.0) for t in tasks.values())
            records = sum(
                t.get("records-written-total", 0.0) + t.get("records-dlq-total", 0.0) for t in tasks.values()
            )
            if points and first is None:
                first = (now, points)
            if points > last[1]:
                last = (now, points)
            self.progress("connector writing", int(records), self.count)
            if records >= self.count:
                break
            if now >= next_status:
                wait_running(self.connect, s.connector, timeout_s=30)  # raises when a task FAILED
                next_status = now + 2
            if now > deadline:
                raise Timeout(
                    f"the connector wrote {records:,.0f} of {self.count:,} records "
                    f"in {now - deployed_at:.0f} s"
                )
            time.sleep(self.poll_s)
        done_at = time.perf_counter()
        used = cpu.used()
        influx_cpu_s, connect_cpu_s = used["influxdb"], used["connect"]
        jolokia.close()
        assert first is not None
        client = InfluxClient(self.settings, database=s.sink_db, timeout_s=120)
        rows = self._verify(client)
        client.close()

        def latency_of(t: dict[str, float]) -> Latency:
            return Latency(
                round(t.get("write-latency-p50", 0.0), 1),
                round(t.get("write-latency-p95", 0.0), 1),
                round(t.get("write-latency-p99", 0.0), 1),
                round(t.get("write-latency-avg", 0.0), 1),
                round(t.get("write-latency-max", 0.0), 1),
            )

        by_task = {task: latency_of(t) for task, t in sorted(tasks.items())}
        worst = Latency(
            *(max(getattr(lat, f) for lat in by_task.values()) for f in Latency.__dataclass_fields__)
        )
        span = last[0] - first[0]
        points_total = int(sum(t.get("points-written-total", 0.0) for t in tasks.values()))
        figures = ConnectorFigures(
            points=points_total,
            tasks=len(tasks),
            seconds=round(span, 3),
            points_per_s=round((last[1] - first[1]) / span, 1) if span > 0 else 0.0,
            seconds_deploy_to_done=round(done_at - deployed_at, 3),
            points_per_s_deploy_to_done=round(self.count / (done_at - deployed_at), 1),
            requests=int(sum(t.get("write-requests-total", 0.0) for t in tasks.values())),
            retries=int(sum(t.get("retries-total", 0.0) for t in tasks.values())),
            records_dlq=int(sum(t.get("records-dlq-total", 0.0) for t in tasks.values())),
            latency_by_task=by_task,
            latency_max_over_tasks=worst,
            influxdb_cpu_s=influx_cpu_s,
            connect_cpu_s=connect_cpu_s,
        )
        self.report(f"connector: {figures.points_per_s:,.0f} points/s first to last point ({span:.2f} s)")
        return figures, rows

    # --- cleanup ---------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Remove what the run created; report (not raise) what could not be removed."""
        s = self.setup
        steps: list[tuple[str, Callable[[], None]]] = []
        if s.deployed:
            steps.append((f"connector {s.connector}", lambda: self._delete_connector(s.connector)))
        for db in list(s.created_dbs):
            steps.append((f"database {db}", lambda db=db: self._drop_db(db)))  # type: ignore[misc]
        if s.created_topics:
            steps.append(
                (f"topics {', '.join(s.created_topics)}", lambda: self._delete_topics(s.created_topics))
            )
        if s.created_subject:
            steps.append((f"subject {s.subject}", lambda: self.registry.delete_subject(s.subject)))
        if s.created_acls:
            acls = s.created_acls
            steps.append((f"ACLs on {', '.join(acls)}", lambda: delete_acls(self.settings, acls)))
        for what, step in steps:
            try:
                step()
            except (ShopstreamError, Exception) as exc:
                self.report(f"cleanup: could not remove {what}: {exc}")

    def _delete_connector(self, name: str) -> None:
        resp = self.connect.request("DELETE", f"/connectors/{name}")
        if not resp.ok and resp.status_code != 404:
            raise ConnectError(f"DELETE {name}: {resp.status_code} {resp.text[:300]}")
        group = f"connect-{name}"
        deadline = time.monotonic() + 30
        while True:  # the group stays non-empty until the tasks have stopped
            try:
                self.admin.delete_consumer_groups([group], request_timeout=10)[group].result()
                return
            except Exception as exc:
                if "GROUP_ID_NOT_FOUND" in str(exc) or time.monotonic() > deadline:
                    if "GROUP_ID_NOT_FOUND" in str(exc):
                        return
                    raise
                time.sleep(0.5)

    def _drop_db(self, name: str) -> None:
        client = InfluxClient(self.settings, database=name, timeout_s=60, role="admin")
        try:
            client.query(f'DROP DATABASE "{name}"')
        finally:
            client.close()

    def _delete_topics(self, topics: list[str]) -> None:
        existing = set(self.admin.list_topics(timeout=10).topics)
        present = [t for t in topics if t in existing]
        if present:
            for future in self.admin.delete_topics(present).values():
                future.result()


def _schema_text(mapping: SinkMapping) -> str:
    from shopstream.contracts import load_schema

    return load_schema(mapping.schema_file)


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
