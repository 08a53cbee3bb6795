"""The local stack's services, exercised through their real APIs."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pymysql
import pytest
import requests
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from shopstream.clients.connect import ConnectClient
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import client_conf
from shopstream.ops.scratch import scratch
from shopstream.settings import Settings
from shopstream.stack.influxd import INFLUXDB_VERSION, influxd_path
from shopstream.stack.stack import Stack
from shopstream.stack.supervisor import Program
from tests.integration.conftest import ReadTopic
from tests.integration.leftovers import token

PROBE_SCHEMA = """
{"type": "record", "name": "StackProbe", "namespace": "io.shopstream.test",
 "fields": [{"name": "id", "type": "string"}, {"name": "amount_cents", "type": "long"},
            {"name": "tags", "type": {"type": "array", "items": "string"}}]}
"""


def test_every_service_is_healthy_and_listens_on_loopback_only(stack: Stack) -> None:
    rows = stack.status()
    monitoring = ["alertmanager", "prometheus", "exporter"] if stack.ctx.settings.monitoring.enabled else []
    assert [r.name for r in rows] == ["mariadb", "influxdb", "kafka", "registry", "connect", *monitoring]
    for row in rows:
        assert row.healthy, row.detail
        assert row.state == "RUNNING" and row.pid and row.rss_bytes > 0 and row.version
        process = psutil.Process(row.pid)
        listening = [
            c.laddr
            for p in [process, *process.children(recursive=True)]
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert listening, f"{row.name} listens on nothing"
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, (row.name, listening)
        assert set(row.ports) <= {addr.port for addr in listening}, row.name


def test_broker_metadata_lists_the_node_and_project_topics(stack: Stack, settings: Settings) -> None:
    metadata = AdminClient(client_config(settings.kafka, "admin")).list_topics(timeout=10)
    brokers = {b.id: f"{b.host}:{b.port}" for b in metadata.brokers.values()}
    assert brokers == {1: settings.kafka.bootstrap_servers}
    for topic in settings.topics.all:
        assert len(metadata.topics[topic].partitions) == settings.topics.partitions


def test_avro_round_trip_through_the_registry(
    stack: Stack, settings: Settings, read_topic: ReadTopic
) -> None:
    topic = f"test.roundtrip.{token()}"
    admin = AdminClient(client_config(settings.kafka, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    with scratch(settings, topic):  # the topic and its subject go afterwards
        _round_trip(settings, topic, read_topic)


def _round_trip(settings: Settings, topic: str, read_topic: ReadTopic) -> None:
    # TopicNameStrategy said explicitly and a client timeout: confluent-kafka's default first asks an
    # /associations API that Apicurio lacks, and a call without a timeout can hang the test forever
    registry = SchemaRegistryClient(client_conf(settings.registry, "admin"))
    strategy = {"subject.name.strategy": topic_subject_name_strategy}
    serializer = AvroSerializer(registry, PROBE_SCHEMA, conf=strategy)
    deserializer = AvroDeserializer(registry, conf=strategy)
    record = {"id": "evt-1", "amount_cents": 123_45, "tags": ["click", "campaign-7"]}
    ctx = SerializationContext(topic, MessageField.VALUE)
    payload = serializer(record, ctx)
    assert payload is not None

    producer = Producer({**client_config(settings.kafka, "admin"), "acks": "all"})
    producer.produce(topic, value=payload)
    assert producer.flush(10) == 0

    [message] = read_topic(topic, expected=1)
    raw = message.value()
    assert raw is not None

    registered = registry.get_latest_version(f"{topic}-value")
    assert raw[0] == 0 and int.from_bytes(raw[1:5], "big") == registered.schema_id
    assert deserializer(raw, ctx) == record


# a job of the stack's supervisord: on SIGTERM it writes whether the broker still answers, and exits
STOP_PROBE = """
import signal, socket, sys, time
def stopped(*_):
    with socket.socket() as sock:
        sock.settimeout(1)
        answered = sock.connect_ex(("127.0.0.1", {port})) == 0
    open({path!r}, "w").write("broker answered" if answered else "broker gone")
    sys.exit(0)
signal.signal(signal.SIGTERM, stopped)
while True:
    time.sleep(1)
"""


def test_registry_keeps_a_schema_across_stack_down_and_up(
    stack: Stack, settings: Settings, tmp_path: Path
) -> None:
    """...and `stack down` stops the jobs first, while the services they write to still answer."""
    registry = SchemaRegistryClient(client_conf(settings.registry, "admin"))
    subject = f"test.persist.{token()}-value"
    job, said = f"test-stop-order-{token()}", tmp_path / "at-sigterm.txt"
    probe = tmp_path / "stop_probe.py"
    probe.write_text(STOP_PROBE.format(port=settings.kafka.port, path=str(said)))
    stack.supervisor.add(Program(job, [sys.executable, str(probe)], restart=None))
    stack.supervisor.start(job)
    try:
        with scratch(settings, subject):  # the subject goes afterwards
            _survives_down_and_up(stack, settings, registry, subject, said)
    finally:
        stack.supervisor.remove(job)


def _survives_down_and_up(
    stack: Stack, settings: Settings, registry: SchemaRegistryClient, subject: str, said: Path
) -> None:
    schema_id = registry.register_schema(subject, Schema(PROBE_SCHEMA, "AVRO"))

    stack.down()
    assert not stack.supervisor.is_running()
    assert said.read_text() == "broker answered"  # the job was stopped before the broker
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{settings.registry.url}/subjects", timeout=2)
    stack.up()

    fresh = SchemaRegistryClient(client_conf(settings.registry, "admin"))
    latest = fresh.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (schema_id, 1)
    assert "StackProbe" in str(latest.schema.schema_str)


def test_connect_lists_the_source_plugin_and_loads_the_apicurio_converter(
    stack: Stack, settings: Settings
) -> None:
    connect = ConnectClient(settings.connect)
    plugins = connect.json("GET", "/connector-plugins")
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["io.debezium.connector.mariadb.MariaDbConnector"] == "source"

    def converter_errors(converter: str) -> list[str]:
        cls = "io.debezium.connector.mariadb.MariaDbConnector"
        resp = connect.request(
            "PUT",
            f"/connector-plugins/{cls}/config/validate",
            json={"connector.class": cls, "value.converter": converter},
        )
        resp.raise_for_status()
        [entry] = [c["value"] for c in resp.json()["configs"] if c["value"]["name"] == "value.converter"]
        return list(entry["errors"])

    assert converter_errors("io.apicurio.registry.utils.converter.AvroConverter") == []
    # the same check fails for a class no plugin provides: the worker really loaded Apicurio's
    assert converter_errors("io.apicurio.registry.utils.converter.NoSuchConverter") != []


def test_mariadb_has_row_binlog_and_least_privilege_cdc_user(stack: Stack, settings: Settings) -> None:
    cdc = pymysql.connect(
        host=settings.mysql.host,
        port=settings.mysql.port,
        user=settings.mysql.cdc_user,
        password=settings.mysql.cdc_password.get_secret_value(),
    )
    with cdc, cdc.cursor() as cur:
        names = "'log_bin', 'binlog_format', 'binlog_row_image', 'server_id'"
        cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({names})")
        assert dict(cur.fetchall()) == {
            "log_bin": "ON",
            "binlog_format": "ROW",
            "binlog_row_image": "FULL",
            "server_id": "1",
        }
        cur.execute("SHOW GRANTS")
        grants = " ".join(row[0] for row in cur.fetchall())
    for privilege in ("SELECT", "RELOAD", "SHOW DATABASES", "REPLICATION SLAVE"):
        assert privilege in grants
    assert "ALL PRIVILEGES" not in grants and "INSERT" not in grants and "SUPER" not in grants

    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host=settings.mysql.host, port=settings.mysql.port, user="root", password="")


def test_influxdb_is_the_version_built_from_source(stack: Stack, settings: Settings) -> None:
    ping = requests.get(f"{settings.influxdb.url}/ping", timeout=5)
    assert ping.status_code == 204 and ping.headers["X-Influxdb-Version"] == INFLUXDB_VERSION
    [row] = [r for r in stack.status() if r.name == "influxdb"]
    assert row.version == INFLUXDB_VERSION
    assert row.pid and psutil.Process(row.pid).exe() == str(influxd_path(settings.stack.cache_dir))
    # pprof is off: it would answer without credentials
    assert requests.get(f"{settings.influxdb.url}/debug/pprof/", timeout=5).status_code == 404


def test_influxdb_answers_ping_and_rejects_unauthenticated_queries(stack: Stack, settings: Settings) -> None:
    ping = requests.get(f"{settings.influxdb.url}/ping", timeout=5)
    assert ping.status_code == 204
    anonymous = requests.get(f"{settings.influxdb.url}/query", params={"q": "SHOW DATABASES"}, timeout=5)
    assert anonymous.status_code == 401
    reader = settings.influxdb.login("reader")
    authed = requests.get(
        f"{settings.influxdb.url}/query",
        params={"q": "SHOW DATABASES"},
        auth=(reader.user, reader.secret),
        timeout=5,
    )
    assert authed.status_code == 200
    assert [settings.influxdb.database] in authed.json()["results"][0]["series"][0]["values"]
