"""Faults injected into a running pipeline, and the verdict: recovery time, events lost, events
counted twice (`shopstream chaos FAULT`; the fault tests in tests/faults run the same function).

A fault run: the pipeline (a ``Trial``: what `shopstream run` runs, on resources of its own) at a
fixed rate with a fixed seed for a bounded time; the fault mid-run; the producer stops; the run waits
until everything produced has landed in InfluxDB; then the verdict from what Kafka acknowledged (the
events topic: an idempotent producer writes each acknowledged event once) against what InfluxDB
holds: every valid event exactly one point, and the KPI points counting every event exactly once.

Recovery time: from the fault to the moment the pipeline is back at its rate for good, i.e. its
backlog (events produced - event points in InfluxDB, sampled every second) is back within twice
what it was before the fault (at least two seconds of traffic) and stays there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.serialization import MessageField, SerializationContext

from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient
from shopstream.clients.kafka import check_reachable, client_config, end_offset_total
from shopstream.clients.registry import avro_deserializer
from shopstream.contracts import kpi_campaign, shop_events
from shopstream.errors import InfluxError, ShopstreamError, Timeout
from shopstream.ops.trial import Trial
from shopstream.retry import NotYet, wait_until
from shopstream.stack.paths import StackPaths
from shopstream.stack.services import connect as connect_service
from shopstream.stack.services import kafka, spark_standalone
from shopstream.stack.stack import Stack
from shopstream.stack.supervisor import Supervisor

Report = Callable[[str], None]
OUTAGE_S = 30.0
DRAIN_S = 240.0
HEALTHY_S = 120.0  # a restarted service answers its probe within this
FUNNEL = ("views", "clicks", "add_to_carts", "purchases")


@dataclass(frozen=True)
class Fault:
    name: str
    doc: str
    inject: Callable[[Trial, Report], None]


def _kill(pid: int | None, what: str, report: Report) -> None:
    if pid is None:
        raise ShopstreamError(f"{what} is not running", "start the pipeline first")
    os.kill(pid, signal.SIGKILL)
    report(f"kill -9 {what} (pid {pid})")


def _service_pid(trial: Trial, service: str) -> int | None:
    return Supervisor(StackPaths.of(trial.root)).pid(service)


def _kill_service(service: str) -> Callable[[Trial, Report], None]:
    def inject(trial: Trial, report: Report) -> None:
        _kill(_service_pid(trial, service), service, report)  # the supervisor brings it back

    return inject


def _kill_spark(query: str) -> Callable[[Trial, Report], None]:
    def inject(trial: Trial, report: Report) -> None:
        job = next(j for j in trial.spark if j.name.endswith(f"-{query}"))
        if job.pid is None:
            raise ShopstreamError(f"{job.name} is not running", "start the pipeline first")
        drivers = [p for p in psutil.Process(job.pid).children(recursive=True) if "java" in p.name()]
        _kill(drivers[0].pid if drivers else job.pid, f"the Spark {query} driver", report)

    return inject


def _stop_service(service: str, outage_s: float = OUTAGE_S) -> Callable[[Trial, Report], None]:
    def inject(trial: Trial, report: Report) -> None:
        supervisor = Supervisor(StackPaths.of(trial.root))
        report(f"stopping {service} for {outage_s:g} s")
        supervisor.stop(service)
        try:
            time.sleep(outage_s)
        finally:
            supervisor.start(service)
            began = time.monotonic()
            probe = Stack(trial.root).service(service).probe
            wait_until(probe, HEALTHY_S, f"{service} healthy again", retry_on=(Exception,))
            report(f"{service} started again, healthy after {time.monotonic() - began:.1f} s")

    return inject


# --- faults of the cluster profile (several brokers, Connect workers, Spark workers) ---------------
MOVE_S = 120.0  # a dead worker's tasks run elsewhere within this (the rebalance delay and a margin)


def _needs(count: int, what: str, setting: str) -> None:
    if count < 2:
        raise ShopstreamError(
            f"this fault needs several {what}; the stack has {count}",
            f"run it on the cluster profile (SHOPSTREAM_STACK_PROFILE=cluster, or set {setting})",
        )


def _events_leaders(trial: Trial) -> Counter[int]:
    """Node id -> how many of the events topic's partitions it leads."""
    topic = check_reachable(trial.settings.kafka).topics[trial.settings.topics.events]
    return Counter(partition.leader for partition in topic.partitions.values())


def _kill_leader_broker(trial: Trial, report: Report) -> None:
    """kill -9 of the broker leading most of the events topic's partitions; its partitions get new
    leaders (the supervisor brings the broker back, a follower then)."""
    _needs(len(trial.root.kafka.servers), "brokers", "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS")
    node, led = _events_leaders(trial).most_common(1)[0]
    name = kafka.broker_name(node - 1)  # node ids are 1, 2, 3 in server order
    _kill(_service_pid(trial, name), f"{name}, leader of {led} events partition(s)", report)

    def moved() -> Counter[int]:
        leaders = _events_leaders(trial)
        if node in leaders or -1 in leaders:
            raise NotYet(f"leaders {dict(leaders)}")
        return leaders

    began = time.monotonic()
    leaders = wait_until(moved, MOVE_S, "new leaders of the events partitions", retry_on=(Exception,))
    report(f"events partitions led by nodes {dict(leaders)} after {time.monotonic() - began:.1f} s")


def _kill_sink_worker(trial: Trial, report: Report) -> None:
    """kill -9 of the Connect worker running the event sink's first task, kept down (its machine gone)
    until the task runs on another worker (within the rebalance delay), then started again."""
    _needs(len(trial.root.connect.urls), "Connect workers", "SHOPSTREAM_CONNECT_URL")
    client = ConnectClient(trial.settings.connect, timeout_s=5)
    events = next(name for name in trial.connectors if name.endswith("-events"))
    dead = client.status(events)["tasks"][0]["worker_id"]  # host:port of its REST listener
    index = next(
        i for i, url in enumerate(trial.root.connect.urls) if url.endswith(f":{dead.rpartition(':')[2]}")
    )
    name = connect_service.worker_name(index)
    supervisor = Supervisor(StackPaths.of(trial.root))
    _kill(supervisor.pid(name), f"{name}, running {events}'s task 0", report)
    began = time.monotonic()
    supervisor.stop(name)  # not restarted: the supervisor's restart, if already under way, stopped
    try:

        def moved() -> str:
            task = client.status(events)["tasks"][0]
            if task["state"] != "RUNNING" or task["worker_id"] == dead:
                raise NotYet(f"task 0 {task['state']} on {task['worker_id']}")
            return str(task["worker_id"])

        where = wait_until(
            moved, MOVE_S, f"{events}'s task 0 running on another worker", retry_on=(Exception,)
        )
        report(f"{events}'s task 0 RUNNING on {where} {time.monotonic() - began:.1f} s after the kill")
    finally:
        supervisor.start(name)
        probe = Stack(trial.root).service(name).probe
        wait_until(probe, HEALTHY_S, f"{name} healthy again", retry_on=(Exception,))
        report(f"{name} started again, healthy {time.monotonic() - began:.1f} s after the kill")


def _kill_spark_worker(trial: Trial, report: Report) -> None:
    """kill -9 of a Spark standalone worker and its executors (the machine gone): the applications'
    lost executors are relaunched on the other worker, the queries go on from their state."""
    _needs(
        trial.root.spark.workers if spark_standalone.local_master(trial.root) else 0,
        "Spark workers",
        "SHOPSTREAM_SPARK_MASTER=spark://127.0.0.1:PORT",
    )
    name = spark_standalone.worker_name(0)
    pid = _service_pid(trial, name)
    if pid is None:
        raise ShopstreamError(f"{name} is not running", "start the stack first")
    held = spark_standalone.cores_in_use(trial.root)
    dead = spark_standalone.alive_worker(trial.root, 0)
    victims = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    began = time.monotonic()
    report(f"kill -9 {name} (pid {pid}) and its {len(victims) - 1} executor process(es)")

    def relaunched() -> int:
        state = spark_standalone.workers(trial.root).get(str(dead), ("gone", ""))[0]
        now = spark_standalone.cores_in_use(trial.root)
        if state == "ALIVE" or now < held:  # the master has not seen the loss, or not made it good
            raise NotYet(f"worker {dead} {state}; {now} of {held} task slots held")
        return now

    wait_until(relaunched, MOVE_S, "the lost executors relaunched", retry_on=(Exception,))
    took = time.monotonic() - began
    report(f"{dead} lost; the applications hold their {held} task slots again {took:.1f} s after the kill")


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("connect-kill", "kill -9 of the Kafka Connect worker", _kill_service("connect")),
        Fault("enrich-kill", "kill -9 of the Spark enrichment driver", _kill_spark("enrich")),
        Fault("kpis-kill", "kill -9 of the Spark KPI application's driver", _kill_spark("kpis")),
        Fault("kafka-restart", "kill -9 of the Kafka broker (then up again)", _kill_service("kafka")),
        Fault("influxdb-stop", f"InfluxDB stopped for {OUTAGE_S:g} s", _stop_service("influxdb")),
        Fault("registry-stop", f"the registry stopped for {OUTAGE_S:g} s", _stop_service("registry")),
        Fault("mariadb-stop", f"MariaDB stopped for {OUTAGE_S:g} s", _stop_service("mariadb")),
    )
}
# on the cluster profile only: each refuses a stack that has one of its kind
CLUSTER_FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("broker-kill", "kill -9 of the broker leading the events partitions", _kill_leader_broker),
        Fault("worker-kill", "kill -9 of the Connect worker running the event sink", _kill_sink_worker),
        Fault("spark-worker-kill", "kill -9 of a Spark worker and its executors", _kill_spark_worker),
    )
}


@dataclass
class Backlog:
    """(seconds since the run's start, events produced, event points landed), once a second."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)

    def recovery_s(self, fault_at: float, rate: float) -> float | None:
        """Seconds from the fault until the backlog was last back within bounds (twice its median
        before the fault, at least two seconds of traffic) and stayed there; 0 when it never left
        them; None when it was still out of bounds at the last sample."""
        before = [p - landed for t, p, landed in self.samples if 5 <= t < fault_at]
        allowed = max(2 * statistics.median(before) if before else 0, 2 * rate)
        after = [(t, produced - landed) for t, produced, landed in self.samples if t >= fault_at]
        over = [i for i, (_, backlog) in enumerate(after) if backlog > allowed]
        if not over:
            return 0.0
        if over[-1] + 1 >= len(after):
            return None
        return round(after[over[-1] + 1][0] - fault_at, 1)


@dataclass(frozen=True)
class Verdict:
    fault: str
    rate: float
    produced: int  # events Kafka acknowledged in this run
    valid: int  # of all acknowledged so far: decodable events (the others are dead letters)
    points: int  # event points in InfluxDB
    lost: int  # valid events without a point
    kpi_missing: int  # events the KPI points do not count
    kpi_doubled: int  # events the KPI points count more than once
    recovery_s: float | None
    drained_s: float  # from the producer's end until every event landed

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.kpi_missing == 0 and self.kpi_doubled == 0


def source_events(trial: Trial) -> list[dict[str, Any]]:
    """Every event in the trial's events topic, decoded (what Kafka acknowledged; dead letters out)."""
    s = trial.settings
    config = client_config(s.kafka, "admin", **{"group.id": f"{trial.prefix}-verdict"})
    consumer = Consumer({**config, "enable.auto.commit": False})
    decode = avro_deserializer(s.registry)
    context = SerializationContext(s.topics.events, MessageField.VALUE)
    metadata = consumer.list_topics(s.topics.events, timeout=10).topics[s.topics.events]
    ends = {}
    for partition in metadata.partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(s.topics.events, partition), timeout=10)
        ends[partition] = high
    consumer.assign([TopicPartition(s.topics.events, p, 0) for p in ends])
    events: list[dict[str, Any]] = []
    done = {p for p, high in ends.items() if high == 0}
    try:
        while len(done) < len(ends):
            for message in consumer.consume(10_000, 1.0):
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                if offset is not None and partition is not None and offset + 1 >= ends[partition]:
                    done.add(partition)
                try:
                    value = decode(message.value(), context)
                except Exception:  # a dead letter: not an event the pipeline must count
                    continue
                if isinstance(value, dict):
                    events.append(value)
    finally:
        consumer.close()
    return events


def _event_ids(client: InfluxClient, trial: Trial) -> set[str]:
    q = f'SELECT "event_id" FROM {shop_events().qualified(trial.settings)}'
    return {str(row["event_id"]) for series in client.query(q) for row in series.rows}


def _kpi_events(client: InfluxClient, trial: Trial) -> int:
    """Events the campaign KPI points count (every event has one campaign)."""
    fields = ", ".join(f'sum("{f}")' for f in FUNNEL)
    q = f"SELECT {fields} FROM {kpi_campaign().qualified(trial.settings)}"
    rows = [row for series in client.query(q) for row in series.rows]
    return sum(int(v) for k, v in rows[0].items() if k != "time" and v is not None) if rows else 0


class _Sampler:
    """Samples the backlog once a second in a thread (a service under fault may not answer)."""

    def __init__(self, trial: Trial, client: InfluxClient) -> None:
        s = trial.settings
        self.trial, self.client, self.topic = trial, client, s.topics.events
        self.produced_before = end_offset_total(s.kafka, s.topics.events)
        self.points_before = trial.event_points(client)
        self.started = time.monotonic()
        self.backlog = Backlog()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def produced(self) -> int:
        return end_offset_total(self.trial.settings.kafka, self.topic) - self.produced_before

    def landed(self) -> int:
        return self.trial.event_points(self.client) - self.points_before

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _sample(self) -> None:
        with contextlib.suppress(Exception):
            self.backlog.samples.append((self.elapsed(), self.produced(), self.landed()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(1.0)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()  # the drained state: the last tick may predate the end of the catch-up


def run_fault(
    trial: Trial,
    fault: Fault,
    rate: float = 2_000,
    duration_s: float = 45,
    at_s: float = 15,
    seed: int = 7,
    report: Report = lambda _line: None,
) -> Verdict:
    """One fault run on a set-up trial (earlier runs' events stay: the verdict covers them all)."""
    client = InfluxClient(trial.settings.influxdb, timeout_s=30)
    producer = trial.producer(rate, duration_s, seed, name=f"producer-{fault.name}")
    try:
        with _Sampler(trial, client) as sampler:
            producer.start()
            time.sleep(max(0.0, at_s - sampler.elapsed()))
            fault_at = sampler.elapsed()
            fault.inject(trial, report)
            status = producer.wait_exit(duration_s + 180)
            if status != 0:
                failure = f"the producer exited with {status}: {producer.tail(5)}"
                raise ShopstreamError(failure, f"see {producer.log}")
            produced = sampler.produced()
            finished = time.monotonic()
            report(f"produced {produced:,} events; waiting until every one is in InfluxDB")
            try:
                wait_until(
                    lambda: sampler.landed() >= produced,
                    DRAIN_S,
                    "every event in InfluxDB",
                    retry_on=(NotYet, InfluxError),  # e.g. InfluxDB still opening its shards
                )
            except Timeout:
                report("not everything landed in time; the verdict counts what did")
            drained_s = round(time.monotonic() - finished, 1)
        valid = {str(e["event_id"]) for e in source_events(trial)}
        with contextlib.suppress(Timeout):  # the verdict says what is missing
            wait_until(lambda: _kpi_events(client, trial) >= len(valid), 90, "KPIs settled", every_s=2)
        time.sleep(2 * trial.settings.spark.kpi_trigger_s)  # a replayed batch may still be on its way
        counted, points = _kpi_events(client, trial), _event_ids(client, trial)
    finally:
        producer.remove()
        client.close()
    return Verdict(
        fault=fault.name,
        rate=rate,
        produced=produced,
        valid=len(valid),
        points=len(points),
        lost=len(valid - points),
        kpi_missing=max(0, len(valid) - counted),
        kpi_doubled=max(0, counted - len(valid)),
        recovery_s=sampler.backlog.recovery_s(fault_at, rate),
        drained_s=drained_s,
    )
