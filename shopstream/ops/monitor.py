"""Sampling the running pipeline: records per stage, rates in and out, consumer lag, connectors.

Every stage is a topic. Its records are end minus start offsets over its partitions (for the
compacted demographics topic: the offset span). Rates are differences between samples over a
window of a few seconds.

Consumer lag. Spark's Kafka source does not commit offsets to a consumer group, so there is no
group to ask. The job's checkpoint is where Spark itself records what it has consumed: each query's
``offsets/<batch>`` file holds the end offsets of that micro-batch per topic partition, and
``commits/<batch>`` appears once the batch's output is written. The offsets of the latest committed
batch are therefore the query's committed position (exactly what a consumer group's committed offset
means), and ``lag = end offset - that position`` per partition. Kafka Connect sinks do commit to a
group (``connect-<name>`` unless overridden), read with AdminClient.list_consumer_group_offsets.
A partition without a committed position counts from its start offset (nothing consumed yet).

The InfluxDB sink stage: per sink connector, the points it wrote, its write latency and the records
it sent to its DLQ come from the sink's own metrics (KIP-877 plugin metrics, read through the Connect
worker's Jolokia agent when ``SHOPSTREAM_CONNECT_JOLOKIA_URL`` is set); its lag is its group's.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import requests
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from shopstream.clients.connect import ConnectClient
from shopstream.clients.jolokia import JolokiaClient
from shopstream.clients.kafka import PartitionRange, admin_client, topic_offsets
from shopstream.contracts import CAMPAIGN_MEASUREMENT, SEGMENT_MEASUREMENT, SINK_CONNECTOR_CLASS, Topic
from shopstream.errors import ConnectError
from shopstream.jobstatus import QUERIES, QueryStatus, default_checkpoint_dir, read_status
from shopstream.settings import Settings


@dataclass(frozen=True)
class Stage:
    topic: Topic  # its value is the `stage` tag of the telemetry points
    label: str
    dlq: bool = False
    telemetry: bool = True

    @property
    def name(self) -> str:
        return self.topic.value


STAGES: tuple[Stage, ...] = (
    Stage(Topic.EVENTS, "events"),
    Stage(Topic.ENRICHED, "enriched"),
    Stage(Topic.EVENTS_DLQ, "events DLQ", dlq=True),
    Stage(Topic.KPI_CAMPAIGN, "kpi.campaign"),
    Stage(Topic.KPI_SEGMENT, "kpi.segment"),
    Stage(Topic.KPI_DLQ, "kpi DLQ", dlq=True),
    Stage(Topic.ENRICHED_DLQ, "enriched DLQ", dlq=True),
    Stage(Topic.DEMOGRAPHICS, "demographics", telemetry=False),
)


def stage_topics(settings: Settings) -> dict[str, str]:
    return {stage.name: stage.topic.name_in(settings) for stage in STAGES}


# --- Kafka offsets ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Position:
    """Where one consumer stands on one topic: the next offset it will read, per partition."""

    consumer: str  # spark:<query>, connect:<connector>, group:<id>
    topic: str
    offsets: dict[int, int]


def consumed_and_lag(position: dict[int, int], ranges: dict[int, PartitionRange]) -> tuple[int, int]:
    """(records consumed, records behind the end) over the topic's partitions."""
    consumed = lag = 0
    for partition, (start, end) in ranges.items():
        at = min(max(position.get(partition, start), start), end)
        consumed += at - start
        lag += end - at
    return consumed, lag


# --- Spark checkpoints --------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryCheckpoint:
    """One streaming query's checkpoint: its last planned and committed micro-batches."""

    query: str
    latest_batch: int | None
    committed_batch: int | None
    committed_at: float | None  # epoch seconds: when the commit file was written
    offsets: dict[str, dict[int, int]]  # of the committed batch: topic -> partition -> next offset
    topics: tuple[str, ...]  # the topics the query reads (from its latest offsets file)


def _batches(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _offsets_file(path: Path) -> dict[str, dict[int, int]]:
    """A Spark offset log entry: ``v1``, batch metadata, then one line per source (Kafka: JSON)."""
    offsets: dict[str, dict[int, int]] = {}
    lines = path.read_text().splitlines()
    for source in lines[2:]:
        if source.startswith("{"):
            for topic, partitions in json.loads(source).items():
                offsets[topic] = {int(p): int(o) for p, o in partitions.items()}
    return offsets


def read_checkpoint(query_dir: Path) -> QueryCheckpoint | None:
    """The query's checkpoint state, or None when the folder is not a streaming checkpoint."""
    planned = _batches(query_dir / "offsets")
    if not planned:
        return None
    committed = [b for b in _batches(query_dir / "commits") if b in planned]
    last = committed[-1] if committed else None
    offsets = _offsets_file(query_dir / "offsets" / str(last)) if last is not None else {}
    topics = tuple(sorted(_offsets_file(query_dir / "offsets" / str(planned[-1]))))
    return QueryCheckpoint(
        query=query_dir.name,
        latest_batch=planned[-1],
        committed_batch=last,
        committed_at=(query_dir / "commits" / str(last)).stat().st_mtime if last is not None else None,
        offsets=offsets,
        topics=topics,
    )


def query_lag(settings: Settings, checkpoint_dir: Path, query: str, topic: str) -> int | None:
    """Records of ``topic`` behind the query's last committed batch (None: no checkpoint yet)."""
    ranges = topic_offsets(admin_client(settings.kafka), [topic]).get(topic, {})
    lags = [
        consumed_and_lag(c.offsets.get(topic, {}), ranges)[1]
        for c in read_checkpoints(checkpoint_dir)
        if c.query == query
    ]
    return max(lags, default=None)


def read_checkpoints(checkpoint_dir: Path) -> list[QueryCheckpoint]:
    """Every query checkpointed under the folder (one sub-folder per query), by name."""
    if not checkpoint_dir.is_dir():
        return []
    found = []
    for query_dir in sorted(d for d in checkpoint_dir.iterdir() if d.is_dir()):
        try:
            checkpoint = read_checkpoint(query_dir)
        except (OSError, ValueError):  # Spark purging old batches meanwhile: read it next time
            continue
        if checkpoint is not None:
            found.append(checkpoint)
    return found


def spark_positions(checkpoints: Sequence[QueryCheckpoint]) -> list[Position]:
    return [
        Position(f"spark:{c.query}", topic, c.offsets.get(topic, {}))
        for c in checkpoints
        for topic in c.topics
    ]


# --- consumer groups (Kafka Connect sinks, or any group named) ---------------------------------
def group_positions(admin: AdminClient, groups: dict[str, str]) -> list[Position]:
    """consumer label -> group id: each group's committed offsets, one Position per topic."""
    positions: list[Position] = []
    for label, group in groups.items():
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
        by_topic: dict[str, dict[int, int]] = {}
        for tp in futures[group].result().topic_partitions or []:
            if tp.offset >= 0:
                by_topic.setdefault(tp.topic, {})[tp.partition] = tp.offset
        positions.extend(Position(label, topic, offsets) for topic, offsets in sorted(by_topic.items()))
    return positions


# --- Kafka Connect ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConnectorState:
    name: str
    type: str  # source or sink
    state: str
    tasks: tuple[str, ...]
    group: str | None  # the consumer group of a sink
    trace: str = ""
    measurement: str | None = None  # what a shopstream InfluxDB sink writes
    topics: tuple[str, ...] = ()  # what a sink reads

    @property
    def influx_sink(self) -> bool:
        return self.measurement is not None

    @property
    def running(self) -> bool:
        return self.state == "RUNNING" and bool(self.tasks) and all(t == "RUNNING" for t in self.tasks)


def connector_states(client: ConnectClient) -> list[ConnectorState]:
    """Every deployed connector with its state and its tasks' states (one REST call)."""
    body = client.json("GET", "/connectors", params=[("expand", "status"), ("expand", "info")])
    states = []
    for name, entry in sorted(body.items()):
        info, status = entry.get("info") or {}, entry.get("status") or {}
        kind = info.get("type") or status.get("type") or "?"
        config = info.get("config") or {}
        tasks = status.get("tasks") or []
        failed = [s.get("trace", "") for s in [status.get("connector", {}), *tasks] if s.get("trace")]
        states.append(
            ConnectorState(
                name=name,
                type=kind,
                state=status.get("connector", {}).get("state", "UNKNOWN"),
                tasks=tuple(t.get("state", "UNKNOWN") for t in tasks),
                group=config.get("consumer.override.group.id", f"connect-{name}") if kind == "sink" else None,
                trace=failed[0].splitlines()[0][:300] if failed else "",
                measurement=config.get("measurement.name.format", "?")
                if config.get("connector.class") == SINK_CONNECTOR_CLASS
                else None,
                topics=tuple(t.strip() for t in config.get("topics", "").split(",") if t.strip()),
            )
        )
    return states


# --- Spark application (its UI's REST API) -----------------------------------------------------
@dataclass(frozen=True)
class SparkApp:
    ui_url: str
    running: bool
    app_id: str = ""
    name: str = ""
    detail: str = ""


SPARK_PORT_RETRIES = 16  # spark.port.maxRetries: a busy UI port makes Spark take the next one


def _ui_app(url: str, timeout_s: float) -> SparkApp:
    try:
        resp = requests.get(f"{url}/api/v1/applications", timeout=timeout_s)
    except requests.RequestException as exc:
        return SparkApp(url, False, detail=f"{url} did not answer ({type(exc).__name__})")
    if resp.status_code != 200:
        return SparkApp(url, False, detail=f"{url}/api/v1/applications answered {resp.status_code}")
    live = [a for a in resp.json() if any(not at.get("completed") for at in a.get("attempts", []))]
    if not live:
        return SparkApp(url, False, detail=f"the Spark UI at {url} lists no running application")
    return SparkApp(url, True, live[0].get("id", ""), live[0].get("name", ""))


def spark_app(settings: Settings, timeout_s: float = 2.0, hint: int | None = None) -> SparkApp:
    """The running Spark application whose UI's REST API answers on settings.spark.ui_port, or on
    one of the next ports Spark moves its UI to when that port is taken (``hint`` is tried first:
    where it was found last time)."""
    first = settings.spark.ui_port
    ports = list(range(first, min(first + SPARK_PORT_RETRIES, 65535) + 1))
    if hint in ports:
        ports.insert(0, ports.pop(ports.index(hint)))
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                continue
        app = _ui_app(f"http://127.0.0.1:{port}", timeout_s)
        if app.running:
            moved = f" (port {first} was taken)" if port != first else ""
            return SparkApp(app.ui_url, True, app.app_id, app.name, moved.strip())
    last = first + SPARK_PORT_RETRIES
    return SparkApp(
        f"http://127.0.0.1:{first}",
        False,
        detail=f"no Spark UI on 127.0.0.1:{first}-{last}: the job is not running",
    )


# --- samples --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageSample:
    stage: str
    label: str
    topic: str
    dlq: bool
    telemetry: bool
    exists: bool
    records: int
    rate_in: float
    consumer: str | None  # the slowest consumer of the topic (largest lag), if any
    consumed: int | None
    rate_out: float | None
    lag: int


@dataclass(frozen=True)
class ConsumerSample:
    consumer: str
    stage: str
    topic: str
    consumed: int
    lag: int
    rate: float
    committed_batch: int | None = None
    committed_at: float | None = None


@dataclass(frozen=True)
class SinkSample:
    """One InfluxDB sink connector: its metrics (None without Jolokia) and its group's lag."""

    connector: str
    measurement: str
    running: bool
    points: int | None  # points written, all tasks
    rate: float  # points/s over the rate window
    lag: int | None
    dead_letters: int | None  # records sent to its DLQ by the task (mapping or InfluxDB refusals)
    write_p95_ms: float | None
    tasks: int


@dataclass(frozen=True)
class Snapshot:
    at: float  # epoch seconds of the sample
    stages: list[StageSample]
    consumers: list[ConsumerSample]
    connectors: list[ConnectorState]
    spark: SparkApp | None
    queries: list[QueryCheckpoint]  # checkpointed queries reading this pipeline's topics
    kafka_error: str | None = None
    connect_error: str | None = None
    sinks: list[SinkSample] = field(default_factory=list)  # InfluxDB sinks of this pipeline's topics
    metrics_error: str | None = None
    statuses: dict[str, QueryStatus] = field(default_factory=dict)  # what the Spark job says of its queries

    def stage(self, name: str) -> StageSample:
        return next(s for s in self.stages if s.stage == name)

    def consumer(self, name: str, topic: str | None = None) -> ConsumerSample:
        return next(c for c in self.consumers if c.consumer == name and topic in (None, c.topic))

    @property
    def sink_installed(self) -> bool:
        return bool(self.sinks)

    @property
    def kpi_sinks_running(self) -> bool:
        """Both KPI measurements have a running InfluxDB sink connector on this pipeline's topics."""
        running = {k.measurement for k in self.sinks if k.running}
        return {CAMPAIGN_MEASUREMENT, SEGMENT_MEASUREMENT} <= running


@dataclass
class Counts:
    """What one sample counted, by key: the reference later samples' rates are computed against."""

    at: float
    records: dict[str, int]  # stage -> records in its topic
    consumed: dict[str, int] = field(default_factory=dict)  # consumer@topic (or sink:<name>) -> progress


@dataclass(frozen=True)
class Observation:
    """Everything one sample reads from the services (the I/O half of a sample)."""

    at: float
    topics: dict[str, str]  # stage -> topic
    connectors: list[ConnectorState]
    connect_error: str | None
    queries: list[QueryCheckpoint]
    ranges: dict[str, dict[int, PartitionRange]]
    positions: list[Position]
    kafka_error: str | None
    spark: SparkApp | None
    sink_tasks: dict[str, dict[int, dict[str, float]]]  # connector -> task -> its sink metrics
    metrics_error: str | None
    statuses: dict[str, QueryStatus]


def compose(obs: Observation, ref: Counts | None) -> tuple[Snapshot, Counts]:
    """The snapshot of an observation, rates against the reference sample (no I/O: unit-tested)."""
    by_topic = {topic: name for name, topic in obs.topics.items()}
    dt = obs.at - ref.at if ref else 0.0

    def rate(current: int, before: int | None) -> float:
        return (current - before) / dt if before is not None and dt > 0 else 0.0

    committed = {q.query: q for q in obs.queries}
    counts = Counts(obs.at, {})
    consumers = []
    for pos in obs.positions:
        if pos.topic not in by_topic:
            continue
        consumed, lag = consumed_and_lag(pos.offsets, obs.ranges.get(pos.topic, {}))
        key = f"{pos.consumer}@{pos.topic}"
        counts.consumed[key] = consumed
        query = committed.get(pos.consumer.removeprefix("spark:"))
        consumers.append(
            ConsumerSample(
                pos.consumer,
                by_topic[pos.topic],
                pos.topic,
                consumed,
                lag,
                rate(consumed, ref.consumed.get(key) if ref else None),
                query.committed_batch if query else None,
                query.committed_at if query else None,
            )
        )
    stages = [_stage_sample(stage, obs, consumers, counts, ref, rate) for stage in STAGES]
    sinks = [_sink_sample(c, obs, consumers, counts, ref, rate) for c in obs.connectors if _ours(c, obs)]
    snapshot = Snapshot(
        at=obs.at,
        stages=stages,
        consumers=consumers,
        connectors=obs.connectors,
        spark=obs.spark,
        queries=obs.queries,
        kafka_error=obs.kafka_error,
        connect_error=obs.connect_error,
        sinks=sinks,
        metrics_error=obs.metrics_error,
        statuses=obs.statuses,
    )
    return snapshot, counts


Rate = Callable[[int, int | None], float]


def _stage_sample(
    stage: Stage,
    obs: Observation,
    consumers: list[ConsumerSample],
    counts: Counts,
    ref: Counts | None,
    rate: Rate,
) -> StageSample:
    topic = obs.topics[stage.name]
    records = sum(end - start for start, end in obs.ranges.get(topic, {}).values())
    counts.records[stage.name] = records
    readers = [c for c in consumers if c.topic == topic]
    slowest = max(readers, key=lambda c: c.lag) if readers else None
    return StageSample(
        stage=stage.name,
        label=stage.label,
        topic=topic,
        dlq=stage.dlq,
        telemetry=stage.telemetry,
        exists=topic in obs.ranges,
        records=records,
        rate_in=rate(records, ref.records.get(stage.name) if ref else None),
        consumer=slowest.consumer if slowest else None,
        consumed=slowest.consumed if slowest else None,
        rate_out=slowest.rate if slowest else None,
        lag=slowest.lag if slowest else 0,
    )


def _ours(connector: ConnectorState, obs: Observation) -> bool:
    """An InfluxDB sink connector reading one of this pipeline's topics."""
    return connector.influx_sink and bool(set(obs.topics.values()).intersection(connector.topics))


def _sink_sample(
    c: ConnectorState,
    obs: Observation,
    consumers: list[ConsumerSample],
    counts: Counts,
    ref: Counts | None,
    rate: Rate,
) -> SinkSample:
    """The InfluxDB sink stage of one sink connector: its tasks' metrics and its group's lag."""
    tasks = obs.sink_tasks.get(c.name, {})
    lags = [s.lag for s in consumers if s.consumer == f"connect:{c.name}"]
    points = int(sum(t.get("points-written-total", 0) for t in tasks.values())) if tasks else None
    key = f"sink:{c.name}"
    if points is not None:
        counts.consumed[key] = points
    p95 = [t["write-latency-p95"] for t in tasks.values() if t.get("write-latency-p95", -1) >= 0]
    return SinkSample(
        connector=c.name,
        measurement=c.measurement or "?",
        running=c.running,
        points=points,
        rate=rate(points, ref.consumed.get(key) if ref else None) if points is not None else 0.0,
        lag=sum(lags) if lags else None,
        dead_letters=int(sum(t.get("records-dlq-total", 0) for t in tasks.values())) if tasks else None,
        write_p95_ms=max(p95) if p95 else None,
        tasks=len(c.tasks),
    )


class Monitor:
    """Samples the pipeline; rates compare with the sample about ``rate_window_s`` earlier."""

    def __init__(
        self,
        settings: Settings,
        checkpoint_dir: Path | None = None,
        groups: Sequence[str] = (),
        rate_window_s: float = 5.0,
        probe_spark: bool = True,
    ) -> None:
        self.settings = settings
        self.checkpoint_dir = checkpoint_dir or default_checkpoint_dir(settings)
        self.groups = list(groups)
        self.rate_window_s = rate_window_s
        self.probe_spark = probe_spark
        self.admin = admin_client(settings.kafka)
        self.connect = ConnectClient(settings.connect, timeout_s=5)
        url = settings.connect.jolokia_url
        self.jolokia = JolokiaClient(settings.connect, timeout_s=3) if url else None
        self.history: deque[Counts] = deque()
        self._spark_port: int | None = None

    def _reference(self, now: float) -> Counts | None:
        """The newest earlier sample at least a window old (else the oldest); older ones are dropped."""
        while len(self.history) >= 2 and now - self.history[1].at >= self.rate_window_s:
            self.history.popleft()
        return self.history[0] if self.history else None

    def sample(self) -> Snapshot:
        obs = self.observe()
        snapshot, counts = compose(obs, self._reference(obs.at))
        if obs.kafka_error is None:
            self.history.append(counts)
        return snapshot

    def observe(self) -> Observation:
        """Read everything a sample needs from the services, the checkpoints and the status files."""
        topics = stage_topics(self.settings)
        connectors: list[ConnectorState] = []
        connect_error = kafka_error = None
        try:
            connectors = connector_states(self.connect)
        except (ConnectError, requests.RequestException, ValueError) as exc:
            connect_error = str(exc)
        groups = {f"connect:{c.name}": c.group for c in connectors if c.group}
        groups |= {f"group:{g}": g for g in self.groups}
        ours = set(topics.values())
        queries = [q for q in read_checkpoints(self.checkpoint_dir) if ours.intersection(q.topics)]
        now = time.time()
        ranges: dict[str, dict[int, PartitionRange]] = {}
        positions: list[Position] = spark_positions(queries)
        try:
            ranges = topic_offsets(self.admin, list(topics.values()))
            positions += group_positions(self.admin, groups)
        except KafkaException as exc:
            kafka_error = str(exc)
        spark = spark_app(self.settings, hint=self._spark_port) if self.probe_spark else None
        if spark is not None and spark.running:
            self._spark_port = int(spark.ui_url.rsplit(":", 1)[1])
        sink_tasks, metrics_error = self._sink_metrics(connectors, ours)
        statuses = {
            name: status for name in QUERIES if (status := read_status(self.checkpoint_dir, name)) is not None
        }
        return Observation(
            now, topics, connectors, connect_error, queries, ranges, positions, kafka_error, spark,
            sink_tasks, metrics_error, statuses,
        )  # fmt: skip

    def _sink_metrics(
        self, connectors: list[ConnectorState], ours: set[str]
    ) -> tuple[dict[str, dict[int, dict[str, float]]], str | None]:
        """Each InfluxDB sink connector's task metrics (Jolokia); the first failure stops the reads."""
        found: dict[str, dict[int, dict[str, float]]] = {}
        if self.jolokia is None:
            return found, None
        for c in (c for c in connectors if c.influx_sink and ours.intersection(c.topics)):
            try:
                found[c.name] = self.jolokia.sink_tasks(c.name)
            except ConnectError as exc:
                return found, exc.message
        return found, None
