"""Sends records to Kafka as Avro in the Confluent wire format, counting every outcome.

``AvroSender`` serves any topic and contract (the benchmarks load the enriched and KPI topics with it);
``EventSender`` is the producer of shop events. The writer schema must already be registered
(`shopstream schemas register` / `evolve`): the sender looks its id up and never registers on its own,
so the registry stays the gatekeeper of contracts. Records that do not fit the schema, or (events)
break the events' business rules (``shopstream/rules.py``: the Spark job would dead-letter them), are
refused before sending, with the reason, and counted; delivery successes and failures are counted
from librdkafka's delivery reports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import fastavro
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.validation import ValidationError, validate

from producer.avro_codec import UnsupportedSchema, compile_encoder
from shopstream.clients.kafka import check_reachable, client_config, enqueue, error_reason
from shopstream.clients.registry import client_conf, registry_client
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema, subject
from shopstream.errors import RegistryError
from shopstream.rules import Rules
from shopstream.settings import KafkaRole, Settings
from shopstream.stats import percentiles

SerializerKind = Literal["compiled", "confluent"]


def producer_config(settings: Settings, role: KafkaRole = "producer", **overrides: Any) -> dict[str, Any]:
    """Durable, fast defaults: every event acknowledged by all in-sync replicas, no duplicates; as the
    producer role by default (it may write the events topic, nothing else). librdkafka logs nothing
    itself: broker errors come through the sender's ``error_cb``."""
    return {
        **client_config(settings.kafka, role),
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 20,
        "batch.size": 1_000_000,
        "batch.num.messages": 100_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        **overrides,
    }


REGISTER_HINT = "run `shopstream schemas register` (first versions) and `shopstream schemas evolve` (next)"
ACK_SAMPLE = 16  # every 16th acknowledgement's latency is kept
ACK_SAMPLES_MAX = 500_000


class InvalidRecord(ValueError):
    """A record that does not match the writer schema or breaks a business rule; it was not sent."""


@dataclass
class Counters:
    sent: int = 0  # handed to librdkafka
    acked: int = 0  # delivery report without error
    failed: int = 0  # delivery report with an error
    invalid: int = 0  # refused before sending (not fitting the schema, or breaking a rule)
    violations: dict[str, int] = field(default_factory=dict)  # rule violated: ... -> records refused
    value_bytes: int = 0  # Avro payload bytes handed to librdkafka
    errors: dict[str, int] = field(default_factory=dict)  # delivery error name -> count
    # produce() to acknowledgement (librdkafka's message latency), 1 in ACK_SAMPLE acks, ms
    ack_latencies_ms: list[float] = field(default_factory=list)

    def ack_percentiles(self) -> dict[str, float] | None:
        """p50/p95/p99 of the sampled acknowledgement latencies (None before any)."""
        return percentiles(self.ack_latencies_ms) if self.ack_latencies_ms else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "invalid": self.invalid,
            "violations": dict(self.violations),
            "value_bytes": self.value_bytes,
            "errors": dict(self.errors),
            "ack_latency_ms": self.ack_percentiles(),
        }


class AvroSender:
    """One Kafka producer bound to one topic and one registered writer schema, as one Kafka role."""

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str,
        schema_file: str,
        role: KafkaRole = "producer",
        serializer: SerializerKind = "compiled",
        producer_overrides: Mapping[str, Any] | None = None,
        label: str | None = None,
        hint: str = REGISTER_HINT,
    ) -> None:
        # one error naming the address (or the refused user's settings), not librdkafka retrying forever
        check_reachable(settings.kafka, role=role)
        self.topic = topic
        self.subject = subject(self.topic)
        self.schema_str = load_schema(schema_file)
        self.parsed_schema = fastavro.parse_schema(json.loads(self.schema_str))
        found = registry_client(settings.registry, "reader").lookup(self.subject, self.schema_str)
        if found is None:
            raise RegistryError(f"{label or schema_file} is not registered under {self.subject}", hint)
        self.schema_id, self.schema_version_in_registry = found
        self.counters = Counters()
        self._context = SerializationContext(self.topic, MessageField.VALUE)
        self._reference = AvroSerializer(
            SchemaRegistryClient(client_conf(settings.registry, "reader")),
            self.schema_str,
            conf={
                "auto.register.schemas": False,
                "use.latest.version": False,
                # TopicNameStrategy, said explicitly: the client's default first asks the registry for
                # "associations", an API Apicurio does not have (404), on the hot path
                "subject.name.strategy": topic_subject_name_strategy,
            },
        )
        self.serializer_kind: SerializerKind = serializer
        self._encode = self._build_encoder(serializer)
        self.broker_errors = 0  # errors librdkafka reported about the brokers (it keeps retrying)
        self.on_ack_latency: Callable[[float], None] | None = None  # seconds, of a sampled acknowledgement
        self.last_broker_error = ""
        config = producer_config(settings, role, error_cb=self._on_error, **(producer_overrides or {}))
        self._producer = Producer(config)
        self._deliver = self._on_delivery

    def _build_encoder(self, kind: SerializerKind) -> Callable[[Mapping[str, Any]], bytes]:
        def reference(record: Mapping[str, Any]) -> bytes:
            payload: bytes | None = self._reference(record, self._context)
            assert payload is not None
            return payload

        if kind == "confluent":
            return reference
        try:
            return compile_encoder(self.schema_str, self.schema_id)
        except UnsupportedSchema:
            self.serializer_kind = "confluent"
            return reference

    def verify_against_reference(self, samples: Sequence[Mapping[str, Any]]) -> None:
        """Fail loudly if the compiled encoder's bytes ever differ from AvroSerializer's."""
        for record in samples:
            ours = self._encode(record)
            theirs = self._reference(record, self._context)
            if ours != theirs:
                raise AssertionError(f"compiled encoder differs from AvroSerializer on {record!r}")

    def explain(self, record: Mapping[str, Any]) -> str:
        """Why a record does not match the schema (slow path: only for refused records)."""
        try:
            validate(record, self.parsed_schema, raise_errors=True)
        except ValidationError as exc:
            return "; ".join(str(e) for e in exc.errors)
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return "record validates but could not be encoded"

    def _on_error(self, err: KafkaError) -> None:
        self.broker_errors += 1
        self.last_broker_error = error_reason(err)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.counters.acked += 1
            if self.counters.acked % ACK_SAMPLE == 0:
                latency = msg.latency()
                if latency is not None:
                    if len(self.counters.ack_latencies_ms) < ACK_SAMPLES_MAX:
                        self.counters.ack_latencies_ms.append(latency * 1000)
                    if self.on_ack_latency is not None:  # the metrics' histogram (producer/metrics.py)
                        self.on_ack_latency(latency)
        else:
            self.counters.failed += 1
            self.counters.errors[err.name()] = self.counters.errors.get(err.name(), 0) + 1

    def refusal(self, record: Mapping[str, Any]) -> str | None:
        """Why a record that fits the schema must not be sent; None: it may (no rule here)."""
        return None

    def send(self, record: Mapping[str, Any], key: bytes | None = None) -> None:
        """Encode and enqueue; raise InvalidRecord (nothing sent) if it does not fit the schema or
        ``refusal`` names a reason (every broken rule)."""
        try:
            payload = self._encode(record)
        except Exception as exc:
            self.counters.invalid += 1
            raise InvalidRecord(f"refused, not sent: {self.explain(record)}") from exc
        broken = self.refusal(record)
        if broken is not None:
            counters = self.counters
            counters.invalid += 1
            counters.violations[broken] = counters.violations.get(broken, 0) + 1
            raise InvalidRecord(f"refused, not sent: {broken}")
        enqueue(self._producer, self.topic, payload, key, on_delivery=self._deliver)
        counters = self.counters
        counters.sent += 1
        counters.value_bytes += len(payload)

    def poll(self, timeout: float = 0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float = 60) -> int:
        """Wait for outstanding deliveries; returns how many are still not reported."""
        return int(self._producer.flush(timeout))


class EventSender(AvroSender):
    """The producer of shop events: one registered version of the event contract, as the producer
    role, refusing what breaks the events' business rules."""

    def __init__(
        self,
        settings: Settings,
        *,
        topic: str | None = None,
        schema_version: int = 2,
        serializer: SerializerKind = "compiled",
        producer_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        if schema_version not in EVENT_SCHEMA_FILES:
            raise ValueError(f"schema_version must be one of {sorted(EVENT_SCHEMA_FILES)}")
        super().__init__(
            settings,
            topic=topic or settings.topics.events,
            schema_file=EVENT_SCHEMA_FILES[schema_version],
            serializer=serializer,
            producer_overrides=producer_overrides,
            label=f"event schema v{schema_version}",
            hint="run `shopstream schemas register` (v1) and `shopstream schemas evolve` (v2)",
        )
        self.rules = Rules.of(settings)
        self._check = self.rules.checker()

    def refusal(self, record: Mapping[str, Any]) -> str | None:
        """The business rules the event breaks (the Spark job would dead-letter it), or None."""
        return self._check(record)
