"""Fixtures of the shopstream/ops integration tests: a throwaway InfluxDB database, produced records."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from shopstream.clients.influx import InfluxClient, provision_database
from shopstream.clients.kafka import client_config
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.leftovers import token


@pytest.fixture
def influx_db(stack: Stack, settings: Settings) -> Iterator[str]:
    """A fresh InfluxDB database on the real server (provisioned as a pipeline's: the writer may write,
    the reader read), dropped afterwards."""
    name = f"test_{token()}"
    client = InfluxClient(settings.influxdb, role="admin")
    provision_database(settings.influxdb, name)
    yield name
    client.query(f'DROP DATABASE "{name}"')
    client.close()


def produce(settings: Settings, counts: dict[str, list[int]]) -> None:
    """topic -> records per partition: that many small records into each partition, acknowledged."""
    producer = Producer({**client_config(settings.kafka, "admin"), "acks": "all"})
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    for topic, per_partition in counts.items():
        for partition, n in enumerate(per_partition):
            for i in range(n):  # keyed: the demographics topic is compacted and refuses records without key
                key = f"{partition}-{i}".encode()
                producer.produce(topic, key=key, value=b"record", partition=partition, on_delivery=delivered)
    assert producer.flush(30) == 0
    assert errors == []


def commit(settings: Settings, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit offsets for a consumer group, as a Connect sink task would."""
    consumer = Consumer({**client_config(settings.kafka, "admin"), "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def free_port() -> int:
    """A port nothing listens on (for a Spark UI that must not be found)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def group(stack: Stack, settings: Settings) -> Iterator[str]:
    """A consumer group name for the test, deleted afterwards."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    name = f"test-monitor-{token()}"
    yield name
    admin = AdminClient(client_config(settings.kafka, "admin"))
    for future in admin.delete_consumer_groups([name], request_timeout=10).values():
        try:
            future.result()
        except KafkaException as exc:  # a test that failed before using it: nothing to delete
            if exc.args[0].code() != KafkaError.GROUP_ID_NOT_FOUND:
                raise
