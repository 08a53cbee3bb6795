"""Kafka's admin side: reachability, the project's topics, partitions and offsets (confluent-kafka).

librdkafka retries a dead broker forever and logs each attempt to stderr; the clients made here log
nothing themselves (``log_level`` 0), and ``check_reachable`` asks for the cluster's metadata for a
bounded time, turning "no broker answers" into one error naming the address and the setting.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic, OffsetSpec

from shopstream.errors import KafkaUnavailable
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings

PartitionRange = tuple[int, int]  # (start offset, end offset)
PROBE_TIMEOUT_S = 5.0
HINT = "is it running (`shopstream stack status`) and is SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS right?"


def client_config(settings: Settings, **config: Any) -> dict[str, Any]:
    """librdkafka settings of every client of the project: the bootstrap servers, its own log lines
    off (failures reach the code as errors: ``error_cb``, delivery reports, exceptions)."""
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, "log_level": 0, **config}


def admin_client(settings: Settings, **config: Any) -> AdminClient:
    return AdminClient(client_config(settings, **config))


def unreachable(settings: Settings, reason: str) -> KafkaUnavailable:
    return KafkaUnavailable(f"Kafka unreachable at {settings.kafka_bootstrap_servers} ({reason})", HINT)


def error_reason(error: KafkaError) -> str:
    """librdkafka's words for a broker failure, without its prefix and retry bookkeeping:
    ``127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in
    state CONNECT)`` -> ``connection refused``."""
    text = re.sub(r"^\S+/(bootstrap|\d+): ", "", error.str())
    text = re.sub(r" \(after \d+ms in state \w+\)|, \d+ identical error\(s\) suppressed", "", text)
    found = re.search(r"failed: (.+)$", text)
    text = found.group(1) if found else text
    return text[:1].lower() + text[1:]


def check_reachable(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> ClusterMetadata:
    """The cluster's metadata, asked for at most ``timeout_s``; ``KafkaUnavailable`` naming the
    address and the setting when no broker answers (at once when every broker refuses)."""
    errors: list[KafkaError] = []
    admin = admin_client(settings, error_cb=errors.append)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=max(0.1, min(0.5, deadline - time.monotonic())))
            if metadata.brokers:
                return metadata
        except KafkaException:
            pass
        admin.poll(0)  # serves error_cb
        down = any(e.code() == KafkaError._ALL_BROKERS_DOWN for e in errors)
        if down or time.monotonic() >= deadline:
            failures = [e for e in errors if e.code() in (KafkaError._TRANSPORT, KafkaError._RESOLVE)]
            reason = error_reason(failures[-1]) if failures else f"no broker answered within {timeout_s:g} s"
            raise unreachable(settings, reason)


def ensure_topics(settings: Settings) -> list[str]:
    """Create the project's topics that do not exist yet; return the names created."""
    admin = admin_client(settings)
    existing = set(check_reachable(settings).topics)
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
    found = check_reachable(settings).topics.get(topic)
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


def delete_topics(settings: Settings, topics: Sequence[str]) -> None:
    """Delete the topics (those already gone are no error)."""
    if not topics:
        return
    admin = admin_client(settings)  # alive until the futures are done
    for future in admin.delete_topics(list(topics), operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def consumer_groups(settings: Settings) -> list[str]:
    """The ids of every consumer group the cluster knows."""
    admin = admin_client(settings)  # alive until the future is done
    listed = admin.list_consumer_groups(request_timeout=10).result()
    return sorted(group.group_id for group in listed.valid)


def delete_groups(settings: Settings, groups: Sequence[str], timeout_s: float = 30) -> None:
    """Delete the consumer groups, waiting for members that are still leaving (e.g. a deleted
    connector's tasks); groups already gone are no error."""
    admin = admin_client(settings)
    pending = list(groups)

    def deleted() -> bool:
        if not pending:
            return True
        futures = admin.delete_consumer_groups(pending, request_timeout=10)
        for group, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() not in (KafkaError.GROUP_ID_NOT_FOUND, KafkaError.NON_EMPTY_GROUP):
                    raise
                if exc.args[0].code() == KafkaError.NON_EMPTY_GROUP:
                    continue
            pending.remove(group)
        if pending:
            raise NotYet(f"consumer groups with members: {', '.join(pending)}")
        return True

    wait_until(deleted, timeout_s, "consumer groups deleted", every_s=0.5)
