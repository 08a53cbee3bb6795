"""The containers the testcontainers provider starts, as plain data.

Kept apart from starting them so that unit tests can check images, environment and ports without a
Docker engine. Images (and MariaDB's binlog flags) are read from compose/docker-compose.yml, so both
Docker paths run the same versions; Connect is built from compose/docker/connect/Dockerfile.

Connect runs on the host network: connector configs are rendered from the same ``Settings`` the tests
use (``${settings:mysql_host}``, the registry URL, the schema-history bootstrap servers), so Connect
must reach every service at the addresses the test process uses. For the same reason Kafka's host
listener is published on a port chosen before the start and advertised as such.

These containers run without Kafka, registry and Connect REST security (PLAINTEXT, open APIs: the
settings say so, and the security tests skip); InfluxDB has its admin, writer and reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shopstream.clients.connect import CDC_PASSWORD_ENV, INFLUXDB_PASSWORD_ENV
from shopstream.resources import project_dir
from shopstream.settings import InfluxRole, Settings
from shopstream.stack.services.mariadb import REGISTRY_DATABASE
from tests.providers import Endpoints

COMPOSE_DIR = project_dir() / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
# the build context is the repository root: the image builds the InfluxDB sink from connectors/influxdb-sink
CONNECT_BUILD_CONTEXT = project_dir()
CONNECT_DOCKERFILE = "compose/docker/connect/Dockerfile"  # relative to CONNECT_BUILD_CONTEXT
CONNECT_IMAGE_TAG = "shopstream-connect:test"
MARIADB_INIT = COMPOSE_DIR / "docker" / "mariadb" / "initdb" / "10-shopstream.sh"


@dataclass(frozen=True)
class ContainerSpec:
    """One container: ``name`` is also its alias on the provider's network."""

    name: str
    image: str
    env: dict[str, str]
    ports: tuple[int, ...] = ()  # exposed, published on random host ports
    bound_ports: dict[int, int] = field(default_factory=dict)  # container port -> fixed host port
    command: tuple[str, ...] = ()
    files: dict[str, Path] = field(default_factory=dict)  # path in the container -> file copied in
    host_network: bool = False


@cache
def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def _image(service: str) -> str:
    return str(compose_services()[service]["image"])


def container_specs(base: Settings, host: str, kafka_port: int, connect_port: int) -> list[ContainerSpec]:
    """In start order. ``host`` is where the test process reaches published ports (the Docker host),
    ``kafka_port`` and ``connect_port`` are free ports on it."""
    app_password = base.mysql.password.get_secret_value()
    cdc_password = base.mysql.cdc_password.get_secret_value()
    roles: tuple[InfluxRole, ...] = ("admin", "writer", "reader")
    influx = {role: base.influxdb.login(role) for role in roles}
    mariadb = ContainerSpec(
        "mariadb",
        _image("mariadb"),
        {
            "MARIADB_RANDOM_ROOT_PASSWORD": "1",
            "MARIADB_ROOT_HOST": "localhost",
            "MARIADB_DATABASE": base.mysql.database,
            "MARIADB_USER": base.mysql.user,
            "MARIADB_PASSWORD": app_password,
            "SHOPSTREAM_MYSQL_CDC_USER": base.mysql.cdc_user,
            "SHOPSTREAM_MYSQL_CDC_PASSWORD": cdc_password,
        },
        ports=(3306,),
        command=tuple(compose_services()["mariadb"]["command"]),
        files={f"/docker-entrypoint-initdb.d/{MARIADB_INIT.name}": MARIADB_INIT},
    )
    influxdb = ContainerSpec(
        "influxdb",
        _image("influxdb"),
        {
            "INFLUXDB_HTTP_AUTH_ENABLED": "true",
            "INFLUXDB_REPORTING_DISABLED": "true",
            "INFLUXDB_DB": base.influxdb.database,
            "INFLUXDB_ADMIN_USER": influx["admin"].user,
            "INFLUXDB_ADMIN_PASSWORD": influx["admin"].secret,
            # the image grants them WRITE and READ on INFLUXDB_DB
            "INFLUXDB_WRITE_USER": influx["writer"].user,
            "INFLUXDB_WRITE_USER_PASSWORD": influx["writer"].secret,
            "INFLUXDB_READ_USER": influx["reader"].user,
            "INFLUXDB_READ_USER_PASSWORD": influx["reader"].secret,
        },
        ports=(8086,),
    )
    kafka = ContainerSpec(
        "kafka",
        _image("kafka"),
        {
            "CLUSTER_ID": "c2hvcHN0cmVhbS1rcmFmdA",
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_LISTENERS": "HOST://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093,BROKER://0.0.0.0:9094",
            "KAFKA_ADVERTISED_LISTENERS": f"HOST://{host}:{kafka_port},BROKER://kafka:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "HOST:PLAINTEXT,CONTROLLER:PLAINTEXT,BROKER:PLAINTEXT",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            "KAFKA_HEAP_OPTS": f"-Xmx{base.kafka.heap}",
        },
        bound_ports={9092: kafka_port},
    )
    registry = ContainerSpec(
        "registry",
        _image("registry"),
        {
            "APICURIO_STORAGE_KIND": "sql",
            "APICURIO_STORAGE_SQL_KIND": "mysql",
            "APICURIO_DATASOURCE_URL": f"jdbc:mysql://mariadb:3306/{REGISTRY_DATABASE}",
            "APICURIO_DATASOURCE_USERNAME": base.mysql.user,
            "APICURIO_DATASOURCE_PASSWORD": app_password,
            "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
            "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
            "APICURIO_REST_DELETION_GROUP_ENABLED": "true",
        },
        ports=(8080,),
    )
    connect = ContainerSpec(
        "connect",
        CONNECT_IMAGE_TAG,
        {
            "CONNECT_BOOTSTRAP_SERVERS": f"{host}:{kafka_port}",
            "CONNECT_LISTENERS": f"http://{host}:{connect_port}",
            "CONNECT_REST_ADVERTISED_HOST_NAME": host,
            "CONNECT_REST_ADVERTISED_PORT": str(connect_port),
            "KAFKA_HEAP_OPTS": f"-Xmx{base.connect.heap}",
            # what ${env:...} in the connector configs resolve to
            CDC_PASSWORD_ENV: cdc_password,
            INFLUXDB_PASSWORD_ENV: influx["writer"].secret,
        },
        host_network=True,
    )
    return [mariadb, influxdb, kafka, registry, connect]


def endpoints(
    base: Settings, host: str, kafka_port: int, connect_port: int, published: Mapping[str, int]
) -> Endpoints:
    """Where the test process reaches the services; ``published`` maps a container's name to the host
    port of its one exposed port (0 for a container not started yet)."""
    return Endpoints(
        kafka_bootstrap_servers=f"{host}:{kafka_port}",
        kafka_security_protocol="PLAINTEXT",
        schema_registry_url=f"http://{host}:{published.get('registry', 0)}/apis/ccompat/v7",
        schema_registry_admin_password="",
        schema_registry_connect_password="",
        schema_registry_reader_password="",
        connect_url=f"http://{host}:{connect_port}",
        connect_password="",
        mysql_host=host,
        mysql_port=published.get("mariadb", 0),
        mysql_user=base.mysql.user,
        mysql_password=base.mysql.password.get_secret_value(),
        influxdb_url=f"http://{host}:{published.get('influxdb', 0)}",
        influxdb_admin_user=base.influxdb.admin_user,
        influxdb_admin_password=base.influxdb.admin_password.get_secret_value(),
        influxdb_writer_user=base.influxdb.writer_user,
        influxdb_writer_password=base.influxdb.writer_password.get_secret_value(),
        influxdb_reader_user=base.influxdb.reader_user,
        influxdb_reader_password=base.influxdb.reader_password.get_secret_value(),
    )
