"""The session-finish check is not vacuous: what a test leaves on the services is found and, when it
carries the session's token, removed."""

from __future__ import annotations

from pathlib import Path

from confluent_kafka.admin import AclOperation, NewTopic, ResourceType

from shopstream.clients.influx import InfluxClient
from shopstream.clients.kafka import admin_client
from shopstream.clients.kafka_acls import Grant, ensure_acls
from shopstream.clients.registry import registry_client
from shopstream.contracts import EVENT_SCHEMA_FILES, load_schema
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.integration.leftovers import Session, resources_now, token


def test_a_topic_acl_subject_and_database_left_behind_are_found_and_removed(
    stack: Stack, settings: Settings, tmp_path: Path
) -> None:
    session = Session(settings.replace(state_dir=tmp_path))  # markers of its own: no other session
    session.begin()
    topic, database = f"test.{token()}.left-behind", f"test_{token()}"
    admin = admin_client(settings.kafka)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    ensure_acls(settings, [Grant("producer", ResourceType.TOPIC, topic, (AclOperation.WRITE,))])
    registry_client(settings.registry, "admin").register(f"{topic}-value", load_schema(EVENT_SCHEMA_FILES[2]))
    influx = InfluxClient(settings.influxdb, role="admin")
    influx.query(f'CREATE DATABASE "{database}"')
    influx.close()

    left = session.end()
    assert topic in left["topics"] and f"{topic}-value" in left["subjects"]
    assert database in left["databases"]
    if settings.kafka.sasl:  # no authorizer, no ACLs
        assert left["acls"] == [topic]
    now = resources_now(settings)
    assert topic not in now["topics"] and f"{topic}-value" not in now["subjects"]
    assert database not in now["databases"] and topic not in now["acls"]
