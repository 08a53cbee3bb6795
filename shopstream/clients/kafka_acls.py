"""Least-privilege Kafka ACLs: what each role may do, derived from the settings' topic names.

The broker's StandardAuthorizer denies what no ACL allows (only the admin is a super user). Each
pipeline's topics come with their ACLs (``ensure_pipeline`` grants them; a pipeline renamed for a test or
a benchmark gets the same grants on its own names, removed with it by ``shopstream.ops.scratch``):

* producer: WRITE (and DESCRIBE) on the events topic, nothing else; an idempotent producer needs no
  cluster permission since KIP-679.
* spark: READ on the events and demographics topics, WRITE on the enriched, KPI and events-DLQ
  topics (all with DESCRIBE). Spark's Kafka source assigns partitions and keeps offsets in its
  checkpoint: no consumer group.
* connect: its worker's group and internal topics (``_connect-*``), its sink connectors' groups
  (``connect-*``: read, and delete when a sink's offsets are reset), and its connectors' topics: the CDC
  source writes (and creates) the demographics topic and its schema history (read back through the group
  ``<topic.prefix>-schemahistory`` after a restart); the sinks read the KPI and enriched topics and
  write (and create) their DLQs.

Without SASL (``SHOPSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT``) the local broker runs no authorizer
and nothing is granted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from shopstream.clients.kafka import admin_client, ensure_topics
from shopstream.errors import KafkaAuthError
from shopstream.retry import NotYet, wait_until
from shopstream.settings import KafkaRole, Settings

CONNECT_GROUP = "shopstream-connect"  # the local worker's group.id
CONNECT_INTERNAL_PREFIX = "_connect-"  # its config, offset and status topics
SINK_GROUP_PREFIX = "connect-"  # a sink connector's consumer group is connect-<name>
SCHEMA_HISTORY_PREFIX = "_schema-history."
R, W, C, D, DC = (
    AclOperation.READ,
    AclOperation.WRITE,
    AclOperation.CREATE,
    AclOperation.DESCRIBE,
    AclOperation.DESCRIBE_CONFIGS,
)


@dataclass(frozen=True)
class Grant:
    role: KafkaRole
    resource: ResourceType
    name: str
    operations: tuple[AclOperation, ...]
    prefixed: bool = False

    def bindings(self, settings: Settings) -> list[AclBinding]:
        principal = f"User:{settings.kafka.login(self.role).user}"
        pattern = ResourcePatternType.PREFIXED if self.prefixed else ResourcePatternType.LITERAL
        return [
            AclBinding(self.resource, self.name, pattern, principal, "*", op, AclPermissionType.ALLOW)
            for op in self.operations
        ]

    def __str__(self) -> str:
        ops = ",".join(op.name for op in self.operations)
        kind = f"{self.resource.name}{' prefixed' if self.prefixed else ''}"
        return f"{self.role}: {ops} on {kind} {self.name}"


def schema_history_topic(settings: Settings) -> str:
    """The CDC source's schema history topic (``schema.history.internal.kafka.topic``)."""
    return f"{SCHEMA_HISTORY_PREFIX}{settings.topics.demographics}"


def pipeline_grants(settings: Settings) -> list[Grant]:
    """The grants on one pipeline's topics (and the CDC source's history group)."""
    s, topic = settings, ResourceType.TOPIC
    return [
        Grant("producer", topic, s.topics.events, (W, D)),
        *(Grant("spark", topic, t, (R, D)) for t in (s.topics.events, s.topics.demographics)),
        *(
            Grant("spark", topic, t, (W, D))
            for t in (s.topics.enriched, s.topics.kpi_campaign, s.topics.kpi_segment, s.topics.events_dlq)
        ),
        Grant("connect", topic, s.topics.demographics, (C, W, D)),
        Grant("connect", topic, schema_history_topic(s), (C, R, W, D, DC)),
        Grant("connect", ResourceType.GROUP, f"{s.topics.demographics}-schemahistory", (R,)),
        *(
            Grant("connect", topic, t, (R, D))
            for t in (s.topics.kpi_campaign, s.topics.kpi_segment, s.topics.enriched)
        ),
        *(Grant("connect", topic, t, (C, W, D)) for t in (s.topics.kpi_dlq, s.topics.enriched_dlq)),
    ]


def worker_grants() -> list[Grant]:
    """The Connect worker's own grants: its group, internal topics and sink connectors' groups."""
    return [
        Grant("connect", ResourceType.GROUP, CONNECT_GROUP, (R,)),
        Grant("connect", ResourceType.TOPIC, CONNECT_INTERNAL_PREFIX, (C, R, W, D, DC), prefixed=True),
        # DELETE: resetting a sink connector's offsets (KIP-875) deletes its consumer group
        Grant("connect", ResourceType.GROUP, SINK_GROUP_PREFIX, (R, AclOperation.DELETE), prefixed=True),
    ]


def _secured(settings: Settings) -> bool:
    return settings.kafka.sasl


def ensure_acls(settings: Settings, grants: Sequence[Grant]) -> int:
    """Create the grants' ACLs (as the admin; creating an existing ACL changes nothing); returns how
    many bindings were asked for. A cluster without an authorizer needs none; an admin that may not
    create ACLs (a managed cluster) fails listing the grants to ask its operator for."""
    if not _secured(settings) or not grants:
        return 0
    bindings = [binding for grant in grants for binding in grant.bindings(settings)]
    if _keys(bindings) <= _keys(list_acls(settings)):
        return len(bindings)
    admin = admin_client(settings.kafka)  # alive until the futures are done
    for future in admin.create_acls(bindings, request_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.SECURITY_DISABLED:
                return 0
            if error.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
                login, where = settings.kafka.login("admin"), settings.kafka.bootstrap_servers
                raise KafkaAuthError(
                    f"the Kafka user '{login.user}' may not create ACLs at {where}",
                    "ask the cluster's operator for these grants: " + "; ".join(map(str, grants)),
                ) from exc
            raise

    def applied() -> bool:  # the broker applies them from the metadata log, a moment later
        missing = _keys(bindings) - _keys(list_acls(settings))
        if missing:
            raise NotYet(f"{len(missing)} ACLs not yet applied")
        return True

    wait_until(applied, 30, "Kafka ACLs applied", every_s=0.1)
    return len(bindings)


def _keys(bindings: Iterable[AclBinding]) -> set[tuple[str, ...]]:
    def name(value: object) -> str:  # enums in bindings made here and in those described
        return str(getattr(value, "name", value))

    return {
        (name(b.restype), b.name, name(b.resource_pattern_type), b.principal, name(b.operation))
        for b in bindings
    }


def _any_filter() -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType.ANY,
        None,  # type: ignore[arg-type]  # None = any name
        ResourcePatternType.ANY,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def list_acls(settings: Settings) -> list[AclBinding]:
    """Every ACL of the cluster (empty without an authorizer)."""
    if not _secured(settings):
        return []
    admin = admin_client(settings.kafka)
    try:
        found: list[AclBinding] = admin.describe_acls(_any_filter(), request_timeout=30).result()
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.SECURITY_DISABLED:
            return []
        raise
    return found


def acl_names(settings: Settings) -> list[str]:
    """The resource names that carry ACLs (what ``shopstream.ops.scratch`` matches by prefix)."""
    return sorted({binding.name for binding in list_acls(settings)})


def delete_acls(settings: Settings, names: Iterable[str]) -> None:
    """Delete every ACL on the named resources (any type, pattern, principal, operation)."""
    wanted = set(names)
    bindings = [b for b in list_acls(settings) if b.name in wanted]
    if not bindings:
        return
    filters = [
        AclBindingFilter(
            b.restype,
            b.name,
            b.resource_pattern_type,
            b.principal,
            b.host,
            b.operation,
            b.permission_type,
        )
        for b in bindings
    ]
    admin = admin_client(settings.kafka)
    for future in admin.delete_acls(filters, request_timeout=30).values():
        future.result()


def ensure_pipeline(settings: Settings) -> list[str]:
    """The pipeline's topics (those missing are created) and the roles' ACLs on them; returns the
    topics created."""
    created = ensure_topics(settings)
    ensure_acls(settings, pipeline_grants(settings))
    return created
