"""Throwaway resources of tests and benchmarks, found and removed by the prefix they are named with.

A benchmark or a test names everything it creates with one prefix (``bench.spark.1a2b3c4d``,
``test.9f8e7d6c``): topics, the ACLs granted on them, registry subjects (``<topic>-value``), consumer
groups (also Connect's ``connect-<connector>``), connectors and InfluxDB databases. ``scratch``
removes them when its block ends, however it ends (an error, Ctrl-C); ``find`` lists what is left.
Everything here runs as each service's admin identity.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

from shopstream.clients import kafka, kafka_acls
from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient
from shopstream.clients.registry import registry_client
from shopstream.settings import Settings

Kind = Literal["topics", "acls", "subjects", "groups", "connectors", "databases"]
KAFKA_KINDS: tuple[Kind, ...] = ("topics", "acls", "subjects", "groups")
ALL_KINDS: tuple[Kind, ...] = (*KAFKA_KINDS, "connectors", "databases")


def _matches(name: str, prefixes: Sequence[str], kind: Kind) -> bool:
    names = [name]
    if kind in ("groups", "acls"):  # a sink connector's group is connect-<connector name>
        names.append(name.removeprefix("connect-"))
    if kind == "acls":  # the ACLs of a pipeline's CDC source name its schema history topic
        names.append(name.removeprefix(kafka_acls.SCHEMA_HISTORY_PREFIX))
    return any(n.startswith(prefix) for n in names for prefix in prefixes)


def find(
    settings: Settings, prefixes: Sequence[str], kinds: Sequence[Kind] = KAFKA_KINDS
) -> dict[Kind, list[str]]:
    """kind -> the names starting with one of the prefixes (kinds with none left out)."""
    listed: dict[Kind, list[str]] = {}
    if "topics" in kinds:
        listed["topics"] = sorted(kafka.check_reachable(settings.kafka).topics)
    if "acls" in kinds:
        listed["acls"] = kafka_acls.acl_names(settings)
    if "subjects" in kinds:
        listed["subjects"] = registry_client(settings.registry, "admin").subjects()
    if "groups" in kinds:
        listed["groups"] = kafka.consumer_groups(settings.kafka)
    if "connectors" in kinds:
        listed["connectors"] = ConnectClient(settings.connect).connectors()
    if "databases" in kinds:
        client = InfluxClient(settings.influxdb, role="admin")
        try:
            listed["databases"] = [str(r["name"]) for s in client.query("SHOW DATABASES") for r in s.rows]
        finally:
            client.close()
    found = {kind: [n for n in names if _matches(n, prefixes, kind)] for kind, names in listed.items()}
    return {kind: names for kind, names in found.items() if names}


def remove(
    settings: Settings, prefixes: Sequence[str], kinds: Sequence[Kind] = KAFKA_KINDS
) -> dict[Kind, list[str]]:
    """Delete everything ``find`` finds (connectors first: they hold groups and write to topics);
    returns what was removed."""
    found = find(settings, prefixes, kinds)
    connect = ConnectClient(settings.connect)
    for name in found.get("connectors", []):
        connect.request("DELETE", f"/connectors/{name}")
    kafka.delete_groups(settings.kafka, found.get("groups", []))
    kafka.delete_topics(settings.kafka, found.get("topics", []))
    kafka_acls.delete_acls(settings, found.get("acls", []))
    registry = registry_client(settings.registry, "admin")
    for subject in found.get("subjects", []):
        registry.delete_subject(subject)
    if found.get("databases"):
        client = InfluxClient(settings.influxdb, role="admin")
        try:
            for database in found["databases"]:
                client.query(f'DROP DATABASE "{database}"')
        finally:
            client.close()
    return found


@contextmanager
def scratch(settings: Settings, prefix: str, kinds: Sequence[Kind] = KAFKA_KINDS) -> Iterator[str]:
    """The block's resources are named with ``prefix``; all of them are removed when it ends."""
    try:
        yield prefix
    finally:
        remove(settings, [prefix], kinds)
