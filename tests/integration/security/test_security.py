"""The secured local stack, for real (issue 13): every service refuses a client without credentials,
each role can do only its part, a wrong password ends a command with one error line naming the
setting, and no password shows in a process' arguments, a log, or Connect's config topic.

Nothing here is mocked: the clients talk to the stack's broker (SASL/SCRAM-SHA-512 with the
StandardAuthorizer), Connect's REST API (BasicAuthSecurityRestExtension) and Jolokia agent, the
registry (Quarkus basic auth, Apicurio roles) and InfluxDB (auth-enabled, admin/writer/reader)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient
from shopstream.clients.kafka import check_reachable, client_config
from shopstream.clients.kafka_acls import SINK_GROUP_PREFIX
from shopstream.errors import ConnectError, InfluxError, KafkaAuthError, KafkaUnavailable, ShopstreamError
from shopstream.settings import KafkaRole, Settings, secret_variables
from shopstream.stack.stack import Stack

CONNECT_CONFIG_TOPIC = "_connect-configs"


@pytest.fixture(scope="module")
def secured(stack: Stack, settings: Settings) -> Iterator[Settings]:
    """The stack's settings; these tests need the secured stack (SASL on, REST and InfluxDB auth)."""
    if not settings.kafka.sasl or settings.connect.login() is None:
        pytest.skip("security is off (SHOPSTREAM_KAFKA_SECURITY_PROTOCOL=PLAINTEXT or no Connect password)")
    yield settings


def one_line(error: ShopstreamError) -> str:
    text = str(error.message)
    assert "\n" not in text, text
    return text


# --- Kafka ------------------------------------------------------------------------------------------
def test_an_anonymous_kafka_client_is_refused(secured: Settings) -> None:
    """A client without SASL gets no metadata at all: the listener drops it, and the project's probe
    says the listener does not speak its protocol."""
    anonymous = AdminClient({"bootstrap.servers": secured.kafka.bootstrap_servers, "log_level": 0})
    with pytest.raises(KafkaException):
        anonymous.list_topics(timeout=5)
    with pytest.raises(KafkaUnavailable) as caught:
        check_reachable(secured.replace(kafka_security_protocol="PLAINTEXT").kafka, timeout_s=5)
    assert "closed every PLAINTEXT connection" in one_line(caught.value)
    assert "SHOPSTREAM_KAFKA_SECURITY_PROTOCOL" in str(caught.value.hint)


@pytest.mark.parametrize("role", ["producer", "spark", "connect", "admin"])
def test_a_wrong_kafka_password_is_one_error_naming_the_setting(secured: Settings, role: KafkaRole) -> None:
    wrong = secured.replace(**{f"kafka_{role}_password": SecretStr("not-the-password")})
    started = time.monotonic()
    with pytest.raises(KafkaAuthError) as caught:
        check_reachable(wrong.kafka, role=role)
    message = one_line(caught.value)
    setting = f"SHOPSTREAM_KAFKA_{role.upper()}_PASSWORD"
    user = secured.kafka.login(role).user
    assert f"refused user '{user}'" in message and setting in message, message
    assert "invalid credentials" in message, message
    assert setting in str(caught.value.hint)
    assert time.monotonic() - started < 5


def test_an_unknown_kafka_user_is_refused(secured: Settings) -> None:
    stranger = secured.replace(kafka_producer_user="nobody", kafka_producer_password=SecretStr("x"))
    with pytest.raises(KafkaAuthError) as caught:
        check_reachable(stranger.kafka, role="producer")
    assert "refused user 'nobody'" in one_line(caught.value)


def _consumer(settings: Settings, role: KafkaRole) -> Consumer:
    """A consumer of ``role`` in a group the Connect role may use (a sink's ``connect-*``)."""
    config = {"group.id": f"{SINK_GROUP_PREFIX}security-test", "enable.auto.commit": False}
    return Consumer(client_config(settings.kafka, role, **config, **{"enable.partition.eof": True}))


def _records_to_the_end(settings: Settings, role: KafkaRole, topic: str) -> int:
    """How many records of partition 0 of ``topic`` a consumer of ``role`` reads up to its end."""
    consumer = _consumer(settings, role)
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        count, deadline = 0, time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                count += 1
                continue
            assert error.code() == KafkaError._PARTITION_EOF, error
            return count
        raise AssertionError(f"{role} did not reach the end of {topic} in 30 s")
    finally:
        consumer.close()


def test_the_producers_credentials_cannot_read_the_enriched_topic(secured: Settings) -> None:
    """The ACLs, not the code: the Connect role (its sink reads the enriched topic) reads it to its
    end; the producer role is refused its metadata and offsets, gets no record, and may not write it."""
    enriched = secured.topics.enriched
    _records_to_the_end(secured, "connect", enriched)

    consumer = _consumer(secured, "producer")
    try:
        error = consumer.list_topics(enriched, timeout=10).topics[enriched].error
        assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error
        with pytest.raises(KafkaException):
            consumer.get_watermark_offsets(TopicPartition(enriched, 0), timeout=10)
        consumer.assign([TopicPartition(enriched, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            assert message is None or message.error() is not None, "the producer role read a record"
    finally:
        consumer.close()

    reports: list[KafkaError | None] = []
    producer = Producer(client_config(secured.kafka, "producer", **{"message.timeout.ms": 10_000}))
    producer.produce(enriched, b"not allowed", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(15)
    [error] = reports
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


def test_a_wrong_password_ends_the_cli_with_one_error_line(secured: Settings) -> None:
    """`shopstream produce` with a wrong producer password: exit code non-zero within seconds, one
    error line naming the user and the setting, then the hint; no librdkafka noise."""
    env = {**os.environ, "SHOPSTREAM_KAFKA_PRODUCER_PASSWORD": "not-the-password", "COLUMNS": "300"}
    result = subprocess.run(
        [sys.executable, "-m", "shopstream", "produce", "--count", "10"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, lines
    assert "refused user 'producer'" in errors[0], errors
    assert "SHOPSTREAM_KAFKA_PRODUCER_PASSWORD" in errors[0], errors
    assert all(line.startswith(("error:", "hint:")) for line in lines), lines


# --- Kafka Connect ----------------------------------------------------------------------------------
def test_connect_rest_and_jolokia_answer_401_without_the_password(secured: Settings) -> None:
    login = secured.connect.login()
    assert login is not None
    url = f"{secured.connect.url}/connectors"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(login.user, "not-the-password"), timeout=10).status_code == 401
    assert requests.get(url, auth=(login.user, login.secret), timeout=10).status_code == 200
    if secured.connect.jolokia_url:
        version = f"{secured.connect.jolokia_url}/version"
        assert requests.get(version, timeout=10).status_code == 401
        assert requests.get(version, auth=(login.user, login.secret), timeout=10).status_code == 200


def test_a_wrong_connect_password_is_one_error_naming_the_setting(secured: Settings) -> None:
    client = ConnectClient(
        secured.replace(connect_password=SecretStr("not-the-password")).connect, timeout_s=10
    )
    with pytest.raises(ConnectError) as caught:
        client.json("GET", "/connectors")
    message = one_line(caught.value)
    assert "401" in message and "SHOPSTREAM_CONNECT_PASSWORD" in message, message


# --- Schema registry --------------------------------------------------------------------------------
def test_the_registry_answers_401_without_credentials_and_403_to_a_reader_registering(
    secured: Settings,
) -> None:
    reader, admin = secured.registry.login("reader"), secured.registry.login("admin")
    if admin is None or reader is None:
        pytest.skip("the registry is open (SHOPSTREAM_SCHEMA_REGISTRY_ADMIN_PASSWORD empty)")
    subjects = f"{secured.registry.url}/subjects"
    assert requests.get(subjects, timeout=10).status_code == 401
    assert requests.get(subjects, auth=(reader.user, "not-the-password"), timeout=10).status_code == 401
    assert requests.get(subjects, auth=(reader.user, reader.secret), timeout=10).status_code == 200
    schema = {"schema": json.dumps({"type": "record", "name": "SecurityTest", "fields": []})}
    resp = requests.post(
        f"{subjects}/security-test-value/versions", json=schema, auth=(reader.user, reader.secret), timeout=10
    )
    assert resp.status_code == 403, resp.text


# --- InfluxDB ---------------------------------------------------------------------------------------
def test_influxdb_refuses_anonymous_queries_and_keeps_the_roles_apart(secured: Settings) -> None:
    query = {"q": "SHOW MEASUREMENTS", "db": secured.influxdb.database}
    assert requests.post(f"{secured.influxdb.url}/query", data=query, timeout=10).status_code == 401
    assert requests.post(f"{secured.influxdb.url}/write", params={"db": secured.influxdb.database},
                         data="security_test v=1", timeout=10).status_code == 401  # fmt: skip

    reader = InfluxClient(secured.influxdb, role="reader")
    reader.query("SHOW MEASUREMENTS")  # the reader reads
    with pytest.raises(InfluxError) as caught:  # ... and may not write
        reader.write(["security_test v=1 1"])
    assert "refused user 'reader'" in one_line(caught.value)

    writer = InfluxClient(secured.influxdb, role="writer")
    with pytest.raises(InfluxError) as caught:  # the writer may not read, nor administer
        writer.query("SHOW USERS")
    assert "refused user 'writer'" in one_line(caught.value)

    wrong = InfluxClient(secured.replace(influxdb_reader_password=SecretStr("not-the-password")).influxdb)
    with pytest.raises(InfluxError) as caught:
        wrong.query("SHOW MEASUREMENTS")
    message = one_line(caught.value)
    assert "401" in message and "SHOPSTREAM_INFLUXDB_READER_PASSWORD" in message, message


# --- Secrets ----------------------------------------------------------------------------------------
def _secrets(settings: Settings) -> dict[str, str]:
    values = {name: settings.value_of(name).get_secret_value() for name in secret_variables()}
    return {name: value for name, value in values.items() if len(value) >= 8}


def test_no_password_in_process_arguments_logs_or_connects_config_topic(secured: Settings) -> None:
    secrets = _secrets(secured)
    assert {"kafka_connect_password", "influxdb_writer_password", "connect_password"} <= set(secrets)

    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        leaked = [name for name, value in secrets.items() if value in cmdline]
        assert not leaked, (process.info["pid"], leaked)

    logs = [p for p in Path(secured.stack.state_dir).rglob("*.log*") if p.is_file()]
    assert logs, f"no logs under {secured.stack.state_dir}"
    for log in logs:
        text = log.read_bytes().decode("utf-8", "replace")
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, (log, leaked)

    consumer = Consumer(client_config(secured.kafka, "admin", **{"group.id": "security-test-configs",
                                                           "enable.auto.commit": False,
                                                           "enable.partition.eof": True}))  # fmt: skip
    records: list[bytes] = []
    try:
        consumer.assign([TopicPartition(CONNECT_CONFIG_TOPIC, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                break
            records.append(message.value() or b"")
        else:
            raise AssertionError(f"{CONNECT_CONFIG_TOPIC}: no end in 30 s")
    finally:
        consumer.close()
    configs = b"\n".join(records).decode("utf-8", "replace")
    leaked = [name for name, value in secrets.items() if value in configs]
    assert not leaked, leaked
    if '"connector.class"' in configs:  # connectors were deployed: their secrets are references
        assert "${env:SHOPSTREAM_" in configs
