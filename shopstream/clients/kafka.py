"""Kafka's admin side: reachability, the project's topics, partitions and offsets (confluent-kafka);
and the ONE place where a Kafka client's security comes from (``security_config``: librdkafka's keys;
``java_security_config``: the same for Java clients, i.e. Connect, Debezium, Spark, Kafka's tools).

Every client connects as one role (``KafkaRole``: admin, producer, spark, connect), with that role's
credentials from the settings, over ``SHOPSTREAM_KAFKA_SECURITY_PROTOCOL``.

librdkafka retries a dead broker forever and logs each attempt to stderr; the clients made here log
nothing themselves (``log_level`` 0), and ``check_reachable`` asks for the cluster's metadata for a
bounded time, turning "no broker answers" into one error naming the address and the setting, and a
refused password (librdkafka reports it only through ``error_cb``) into one naming the user's settings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic, OffsetSpec

from shopstream.errors import KafkaAuthError, KafkaUnavailable
from shopstream.retry import NotYet, wait_until
from shopstream.settings import KafkaRole, KafkaSettings, Settings

PartitionRange = tuple[int, int]  # (start offset, end offset)
PROBE_TIMEOUT_S = 5.0
HINT = "is it running (`shopstream stack status`) and is SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS right?"
PROTOCOL_HINT = "does SHOPSTREAM_KAFKA_SECURITY_PROTOCOL match the broker's listener?"
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def security_config(kafka: KafkaSettings, role: KafkaRole, *, need_password: bool = True) -> dict[str, str]:
    """How a client of ``role`` connects, in librdkafka's keys: ``security.protocol``, and with SASL
    the mechanism and the role's user and password, with TLS the CA file (none: the system's trust
    store). A SASL role without a password fails naming its setting."""
    config: dict[str, str] = {"security.protocol": kafka.security_protocol}
    if kafka.sasl:
        login = kafka.login(role)
        if need_password and not login.secret:
            raise KafkaAuthError(
                f"no password for the Kafka user '{login.user}' ({login.password_setting} is empty)",
                login.hint,
            )
        config |= {
            "sasl.mechanism": kafka.sasl_mechanism,
            "sasl.username": login.user,
            "sasl.password": login.secret,
        }
    if kafka.security_protocol.endswith("SSL") and kafka.ssl_ca_file is not None:
        config["ssl.ca.location"] = str(kafka.ssl_ca_file)
    return config


def jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def java_security_config(
    kafka: KafkaSettings, role: KafkaRole, password: str | None = None
) -> dict[str, str]:
    """``security_config`` for a Java client (Connect, Debezium, Spark's ``kafka.`` options, Kafka's
    tools): ``sasl.jaas.config`` holds the user and ``password`` (default: the role's own; a worker
    passes ``${env:NAME}`` so that its config provider resolves it), the CA file is a PEM trust store."""
    base = security_config(kafka, role, need_password=password is None)
    config = {"security.protocol": base["security.protocol"]}
    if "sasl.mechanism" in base:
        mechanism = base["sasl.mechanism"]
        secret = base["sasl.password"] if password is None else password
        config["sasl.mechanism"] = mechanism
        config["sasl.jaas.config"] = (
            f"{LOGIN_MODULES[mechanism]} required "
            f"username={jaas_quote(base['sasl.username'])} password={jaas_quote(secret)};"
        )
    if "ssl.ca.location" in base:
        config |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": base["ssl.ca.location"]}
    return config


def client_config(kafka: KafkaSettings, role: KafkaRole, **config: Any) -> dict[str, Any]:
    """librdkafka settings of every client of the project: the bootstrap servers, the role's security,
    its own log lines off (failures reach the code as errors: ``error_cb``, delivery reports,
    exceptions)."""
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "log_level": 0,
        **security_config(kafka, role),
        **config,
    }


def admin_client(kafka: KafkaSettings, role: KafkaRole = "admin", **config: Any) -> AdminClient:
    return AdminClient(client_config(kafka, role, **config))


def unreachable(kafka: KafkaSettings, reason: str) -> KafkaUnavailable:
    return KafkaUnavailable(f"Kafka unreachable at {kafka.bootstrap_servers} ({reason})", HINT)


def refused(kafka: KafkaSettings, role: KafkaRole, error: KafkaError) -> KafkaAuthError:
    """An authentication failure reported by librdkafka, as one line naming the user's settings."""
    login = kafka.login(role)
    reason = re.sub(r"^sasl authentication error: ", "", error_reason(error), flags=re.IGNORECASE)
    hint = login.hint
    if "invalid credentials" in reason:
        reason = f"invalid credentials ({kafka.sasl_mechanism})"
    elif "mechanism" in reason.lower():  # e.g. "Unsupported SASL mechanism: broker's supported ..."
        hint = f"does SHOPSTREAM_KAFKA_SASL_MECHANISM ({kafka.sasl_mechanism}) match the broker's?"
    return KafkaAuthError(login.refused(kafka.bootstrap_servers, reason), hint)


def error_reason(error: KafkaError) -> str:
    """librdkafka's words for a broker failure, without its prefix and retry bookkeeping:
    ``127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in
    state CONNECT)`` -> ``connection refused``."""
    text = re.sub(r"^\S+/(bootstrap|\d+): ", "", error.str())
    text = re.sub(r" \(after \d+ms in state \w+\)|, \d+ identical error\(s\) suppressed", "", text)
    found = re.search(r"failed: (.+)$", text)
    text = found.group(1) if found else text
    return text[:1].lower() + text[1:]


def check_reachable(
    kafka: KafkaSettings, timeout_s: float = PROBE_TIMEOUT_S, role: KafkaRole = "admin"
) -> ClusterMetadata:
    """The cluster's metadata as ``role``, asked for at most ``timeout_s``; ``KafkaUnavailable``
    naming the address and the setting when no broker answers (at once when every broker refuses),
    ``KafkaAuthError`` naming the user's settings when the broker refuses the credentials (~0.3 s)."""
    errors: list[KafkaError] = []
    admin = admin_client(kafka, role, error_cb=errors.append)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=max(0.1, min(0.5, deadline - time.monotonic())))
            if metadata.brokers:
                return metadata
        except KafkaException:
            pass
        admin.poll(0)  # serves error_cb
        denied = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if denied:
            raise refused(kafka, role, denied[-1])
        down = any(e.code() == KafkaError._ALL_BROKERS_DOWN for e in errors)
        if down or time.monotonic() >= deadline:
            failures = [e for e in errors if e.code() in (KafkaError._TRANSPORT, KafkaError._RESOLVE)]
            if failures:
                raise unreachable(kafka, error_reason(failures[-1]))
            if down:  # connected, then hung up on: a SASL listener does that to a PLAINTEXT client
                where, protocol = kafka.bootstrap_servers, kafka.security_protocol
                raise KafkaUnavailable(f"Kafka at {where} closed every {protocol} connection", PROTOCOL_HINT)
            raise unreachable(kafka, f"no broker answered within {timeout_s:g} s")


def ensure_topics(settings: Settings) -> list[str]:
    """Create the project's topics that do not exist yet; return the names created."""
    admin = admin_client(settings.kafka)
    existing = set(check_reachable(settings.kafka).topics)
    # The demographics topic is a changelog keyed by customer id: keep the latest row per key.
    configs = {settings.topics.demographics: {"cleanup.policy": "compact"}}
    k = settings.kafka
    replicated = {"min.insync.replicas": str(k.min_insync_replicas)} if k.replication_factor > 1 else {}
    wanted = [
        NewTopic(t, settings.topics.partitions, k.replication_factor, config=replicated | configs.get(t, {}))
        for t in settings.topics.all
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


def partitions(kafka: KafkaSettings, topic: str, role: KafkaRole = "admin") -> int:
    """How many partitions the topic has (asked as ``role``); fails naming the fix when it does not
    exist (or ``role`` may not see it)."""
    found = check_reachable(kafka, role=role).topics.get(topic)
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


def end_offset_total(kafka: KafkaSettings, topic: str, role: KafkaRole = "admin") -> int:
    """The sum of the topic's end offsets over its partitions (asked as ``role``)."""
    ranges = topic_offsets(admin_client(kafka, role), [topic])
    if topic not in ranges:
        raise KafkaUnavailable(
            f"topic {topic} not found", "run `shopstream stack up` (it creates the topics)"
        )
    return sum(end for _, end in ranges[topic].values())


def delete_topics(kafka: KafkaSettings, topics: Sequence[str]) -> None:
    """Delete the topics (those already gone are no error)."""
    if not topics:
        return
    admin = admin_client(kafka)  # alive until the futures are done
    for future in admin.delete_topics(list(topics), operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise


def consumer_groups(kafka: KafkaSettings) -> list[str]:
    """The ids of every consumer group the cluster knows."""
    admin = admin_client(kafka)  # alive until the future is done
    listed = admin.list_consumer_groups(request_timeout=10).result()
    return sorted(group.group_id for group in listed.valid)


def delete_groups(kafka: KafkaSettings, groups: Sequence[str], timeout_s: float = 30) -> None:
    """Delete the consumer groups, waiting for members that are still leaving (e.g. a deleted
    connector's tasks); groups already gone are no error."""
    admin = admin_client(kafka)
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


def enqueue(
    producer: Producer, topic: str, value: bytes | None, key: bytes | None = None, **kwargs: Any
) -> None:
    """``producer.produce``, waiting for room when librdkafka's queue is full (serving delivery
    reports meanwhile): the one send loop of every producer of the project."""
    while True:
        try:
            producer.produce(topic, value, key, **kwargs)
            return
        except BufferError:
            producer.poll(0.05)
