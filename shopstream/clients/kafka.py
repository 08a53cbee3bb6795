"""Kafka's admin side: the project's topics, partitions and offsets (confluent-kafka AdminClient)."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

from shopstream.errors import KafkaUnavailable
from shopstream.settings import Settings

PartitionRange = tuple[int, int]  # (start offset, end offset)


def admin_client(settings: Settings, **config: str | int | float) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, **config})


def ensure_topics(settings: Settings) -> list[str]:
    """Create the project's topics that do not exist yet; return the names created."""
    admin = admin_client(settings, log_level=0)
    existing = set(admin.list_topics(timeout=10).topics)
    # The demographics topic is a changelog keyed by customer id: keep the latest row per key.
    configs = {settings.topic_demographics: {"cleanup.policy": "compact"}}
    wanted = [
        NewTopic(t, settings.topic_partitions, 1, config=configs.get(t, {}))
        for t in settings.all_topics
        if t not in existing
    ]
    created = []
    for topic, future in (admin.create_topics(wanted) if wanted else {}).items():
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def partitions(settings: Settings, topic: str) -> int:
    """How many partitions the topic has; fails naming the fix when it does not exist."""
    metadata = admin_client(settings).list_topics(topic, timeout=10)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaUnavailable(
            f"topic {topic} not found", "run `shopstream stack up` (it creates the topics)"
        )
    return len(found.partitions)


def topic_offsets(admin: AdminClient, topics: Sequence[str]) -> dict[str, dict[int, PartitionRange]]:
    """partition -> (start, end) offsets of each topic that exists (absent topics are left out)."""
    metadata = admin.list_topics(timeout=10)
    found = {t: metadata.topics[t] for t in topics if t in metadata.topics and not metadata.topics[t].error}
    partitions = [TopicPartition(t, p) for t, meta in found.items() for p in meta.partitions]
    result: dict[str, dict[int, PartitionRange]] = {t: {} for t in found}
    if not partitions:
        return result
    earliest, latest = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
    starts = admin.list_offsets(dict.fromkeys(partitions, earliest), request_timeout=10)
    ends = admin.list_offsets(dict.fromkeys(partitions, latest), request_timeout=10)
    start_of = {(tp.topic, tp.partition): f.result().offset for tp, f in starts.items()}
    for tp, future in ends.items():
        key = (tp.topic, tp.partition)
        result[tp.topic][tp.partition] = (start_of[key], future.result().offset)
    return result


def end_offset_total(settings: Settings, topic: str) -> int:
    """The sum of the topic's end offsets over its partitions."""
    ranges = topic_offsets(admin_client(settings), [topic])
    if topic not in ranges:
        raise KafkaUnavailable(
            f"topic {topic} not found", "run `shopstream stack up` (it creates the topics)"
        )
    return sum(end for _, end in ranges[topic].values())
