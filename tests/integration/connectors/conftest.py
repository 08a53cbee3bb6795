"""Fixtures of the InfluxDB sink connector's tests on the real stack (Connect, InfluxDB, Kafka, the
registry): each test gets its own InfluxDB database (provisioned as a pipeline's: the events' retention
policy, WRITE for the sink's writer user; dropped afterwards) and deploys the project's
connector files under names carrying its topic prefix (deleted afterwards, with their consumer
groups)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from producer.avro_codec import compile_encoder
from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient, Series, provision_database
from shopstream.clients.jolokia import JolokiaClient
from shopstream.clients.kafka import client_config, enqueue, topic_offsets
from shopstream.clients.registry import registry_client
from shopstream.connector_file import ConnectorFile, connectors_dir
from shopstream.contracts import load_schema, sink_contract, subject
from shopstream.errors import ConnectError
from shopstream.ops.deploy import load_spec
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings


@dataclass
class Sink:
    """The sink connectors of one test: deploy from a project file, watch, query, clean up."""

    base: Settings
    settings: Settings  # the test's topics and database
    prefix: str
    connect: ConnectClient
    jolokia: JolokiaClient
    influx: InfluxClient
    deployed: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        return self.settings.influxdb.database

    def config(self, file: str, **overrides: str) -> tuple[str, dict[str, str]]:
        """(name, config) of a project connector file under this test's topics, database and a
        name carrying the test's prefix, with ``overrides``."""
        spec = load_spec(self.settings, connectors_dir() / file)
        name = f"{self.prefix}-{spec.name.removeprefix('shopstream-')}"
        return name, {**spec.config, "name": name, **overrides}

    def deploy(self, file: str, *, running: bool = True, **overrides: str) -> str:
        return self.deploy_without(file, (), running=running, **overrides)

    def deploy_without(
        self, file: str, without: Iterable[str], *, running: bool = True, **overrides: str
    ) -> str:
        """Deploy the project file under the test's names, with ``overrides`` and without the
        settings named (e.g. the error handling, to get Connect's defaults)."""
        name, config = self.config(file, **overrides)
        config = {k: v for k, v in config.items() if k not in set(without)}
        self.deployed.append(name)
        resp = self.connect.request("PUT", f"/connectors/{name}/config", json=config)
        assert resp.status_code == 201, resp.text
        if running:
            self.connect.wait_running(name, timeout_s=60)
        return name

    def status(self, name: str) -> dict[str, Any]:
        return self.connect.status(name)

    def task_states(self, name: str) -> list[str]:
        resp = self.connect.request("GET", f"/connectors/{name}/status")
        return [t["state"] for t in resp.json().get("tasks", [])] if resp.ok else []

    def metrics(self, name: str) -> dict[int, dict[str, float]]:
        return self.jolokia.sink_tasks(name)

    def total(self, name: str, metric: str) -> int:
        return int(sum(task.get(metric, 0.0) for task in self.metrics(name).values()))

    def wait_metric(self, name: str, metric: str, expected: int, timeout_s: float = 90) -> None:
        """Until the metric summed over the connector's tasks is exactly ``expected`` (never above)."""

        def reached() -> bool:
            got = self.total(name, metric)
            assert got <= expected, f"{metric} of {name}: {got} > {expected}"
            if got < expected:
                raise NotYet(f"{metric} {got} of {expected}")
            return True

        wait_until(reached, timeout_s, f"{name}: {metric} = {expected}", every_s=0.25)

    def committed(self, name: str, topic: str) -> dict[int, int]:
        """The connector's committed offsets of the topic (its consumer group ``connect-<name>``)."""
        admin = AdminClient(client_config(self.base.kafka, "admin"))
        group = f"connect-{name}"
        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)
        result = future[group].result()
        return {
            tp.partition: tp.offset
            for tp in result.topic_partitions or []
            if tp.topic == topic and tp.offset >= 0
        }

    def wait_committed_to_end(self, name: str, topic: str, timeout_s: float = 60) -> dict[int, int]:
        admin = AdminClient(client_config(self.base.kafka, "admin"))
        ends = {p: end for p, (_, end) in topic_offsets(admin, [topic])[topic].items() if end > 0}

        def at_end() -> dict[int, int]:
            got = self.committed(name, topic)
            if {p: got.get(p) for p in ends} != ends:
                raise NotYet(f"committed {got}, end offsets {ends}")
            return got

        return wait_until(at_end, timeout_s, f"{name} committed the end of {topic}", every_s=0.5)

    def query(self, q: str, epoch: str = "ms") -> list[Series]:
        return self.influx.query(q, epoch=epoch)

    def rows(self, q: str, epoch: str = "ms") -> list[dict[str, Any]]:
        return [row for series in self.query(q, epoch) for row in series.rows]

    def field_types(self, qualified_measurement: str) -> dict[str, str]:
        """SHOW FIELD KEYS of the measurement: field -> integer, float, string or boolean."""
        return {
            row["fieldKey"]: row["fieldType"]
            for row in self.rows(f"SHOW FIELD KEYS FROM {qualified_measurement}")
        }

    def delete(self, name: str) -> None:
        resp = self.connect.request("DELETE", f"/connectors/{name}")
        if not resp.ok and resp.status_code != 404:
            raise ConnectError(f"DELETE {name}: {resp.status_code} {resp.text}")
        admin = AdminClient(client_config(self.base.kafka, "admin"))
        group = f"connect-{name}"

        def group_gone() -> bool:
            try:
                admin.delete_consumer_groups([group], request_timeout=10)[group].result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                    raise NotYet(str(exc)) from exc
            return True

        # a member the broker lost track of (a task instance stuck through a broker restart) keeps
        # the group non-empty until its session times out (Connect's consumers: 45 s)
        wait_until(group_gone, 90, f"consumer group {group} deleted", every_s=0.5)


@pytest.fixture
def sink(isolated_topics: Settings, settings: Settings) -> Iterator[Sink]:
    prefix = isolated_topics.topics.events.removesuffix(f".{settings.topics.events}")
    database = f"test_sink_{uuid.uuid4().hex[:8]}"
    test_settings = isolated_topics.replace(influxdb_database=database)
    provision_database(test_settings.influxdb)
    helper = Sink(
        settings,
        test_settings,
        prefix,
        ConnectClient(settings.connect),
        JolokiaClient(settings.connect),
        InfluxClient(test_settings.influxdb, timeout_s=30, role="admin"),
    )
    yield helper
    try:
        for name in helper.deployed:
            helper.delete(name)
    finally:
        helper.influx.query(f'DROP DATABASE "{database}"')
        assert [database] not in [r["name"] for r in helper.rows("SHOW DATABASES")]
        helper.influx.close()
        helper.jolokia.close()


def register(settings: Settings, topic: str, schema_file: str) -> int:
    """Register the schema under the topic's value subject (the test's, removed afterwards)."""
    return registry_client(settings.registry, "admin").register(subject(topic), load_schema(schema_file))


def produce(
    settings: Settings,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    partition: int | None = None,
) -> int:
    """Send (key, value) records, each acknowledged; returns how many."""
    producer = Producer(
        {
            **client_config(settings.kafka, "admin"),
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    sent = 0
    for key, value in records:
        kwargs: dict[str, Any] = {} if partition is None else {"partition": partition}
        enqueue(producer, topic, value, key, on_delivery=delivered, **kwargs)
        sent += 1
    assert producer.flush(60) == 0
    assert errors == []
    return sent


@dataclass(frozen=True)
class SinkFile:
    """A sink connector file of the project and the contract of the topic it reads."""

    file: ConnectorFile

    @classmethod
    def of(cls, name: str) -> SinkFile:
        return cls(ConnectorFile.read(name))

    @property
    def raw_config(self) -> dict[str, str]:
        return self.file.config

    @property
    def schema_file(self) -> str:
        """The contract's latest version: what the pipeline writes to the topic."""
        return sink_contract(self.file).files[-1]

    def avro(self, record: Mapping[str, Any], schema_id: int) -> bytes:
        """The record in the Confluent wire format, by the producer's own encoder."""
        return _encoder(self.schema_file, schema_id)(record)


@cache
def _encoder(schema_file: str, schema_id: int) -> Callable[[Mapping[str, Any]], bytes]:
    return compile_encoder(load_schema(schema_file), schema_id)


def avro_records(
    mapping: SinkFile, schema_id: int, records: Iterable[Mapping[str, Any]], key_field: str
) -> Iterator[tuple[bytes | None, bytes]]:
    for record in records:
        yield str(record[key_field]).encode(), mapping.avro(record, schema_id)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
