"""The testcontainers provider: Kafka, Apicurio, Connect, MariaDB and InfluxDB as containers.

Selected with SHOPSTREAM_TEST_STACK=testcontainers. Without a reachable Docker engine the session's
integration tests are skipped with Docker's own error. Containers start one after another (the
registry needs MariaDB, Connect needs Kafka), each waited for with a real API call from the test
process, as the local stack's health probes do.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import docker.errors  # type: ignore[import-untyped]  # docker-py ships no types
import pymysql
import pytest
import requests
from confluent_kafka.admin import AdminClient
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.image import DockerImage
from testcontainers.core.network import Network

from shopstream.clients.kafka_acls import ensure_pipeline
from shopstream.settings import Settings
from shopstream.stack.stack import Stack
from tests.providers import Endpoints
from tests.providers.specs import (
    CONNECT_BUILD_CONTEXT,
    CONNECT_DOCKERFILE,
    CONNECT_IMAGE_TAG,
    ContainerSpec,
    container_specs,
    endpoints,
)

READY_TIMEOUT_S = 300  # per container, after its image is pulled


def docker_host() -> str:
    """The Docker host as the test process reaches published ports; skips when there is no engine."""
    try:
        host = DockerClient().host()
    except docker.errors.DockerException as exc:
        pytest.skip(f"SHOPSTREAM_TEST_STACK=testcontainers, but no Docker engine is reachable: {exc}")
    return "127.0.0.1" if host == "localhost" else host


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def build_container(spec: ContainerSpec, network: Network) -> DockerContainer:
    container = DockerContainer(spec.image, env=dict(spec.env))
    if spec.command:
        container.with_command(list(spec.command))
    for path, source in spec.files.items():
        container.with_copy_into_container(source, path, 0o644)
    if spec.host_network:
        return container.with_kwargs(network_mode="host")
    container.with_network(network).with_network_aliases(spec.name).with_exposed_ports(*spec.ports)
    for inner, outer in spec.bound_ports.items():
        container.with_bind_ports(inner, outer)
    return container


def probe(name: str, e: Endpoints, database: str) -> Callable[[], object]:
    """The readiness question for one service, asked at the endpoints the tests will use."""

    def mariadb() -> object:
        pymysql.connect(
            host=e.mysql_host, port=e.mysql_port, user=e.mysql_user, password=e.mysql_password
        ).close()
        return True

    def influxdb() -> object:
        auth = (e.influxdb_reader_user, e.influxdb_reader_password)
        resp = requests.get(f"{e.influxdb_url}/query", params={"q": "SHOW DATABASES"}, auth=auth, timeout=5)
        resp.raise_for_status()
        assert database in resp.text, resp.text  # the image creates it at first start
        return True

    def kafka() -> object:
        return AdminClient({"bootstrap.servers": e.kafka_bootstrap_servers}).list_topics(timeout=5).brokers

    def get(url: str) -> Callable[[], object]:
        def answered() -> object:
            requests.get(url, timeout=5).raise_for_status()
            return True

        return answered

    return {
        "mariadb": mariadb,
        "influxdb": influxdb,
        "kafka": kafka,
        "registry": get(f"{e.schema_registry_url}/subjects"),
        "connect": get(f"{e.connect_url}/connector-plugins"),
    }[name]


def wait_until(name: str, ready: Callable[[], object], container: DockerContainer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
            error = "not ready"
        except Exception as exc:  # any failure of the probe means "not yet"
            error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            logs = b"\n".join(container.get_logs()).decode(errors="replace")[-3000:]
            raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s ({error}); its logs:\n{logs}")
        time.sleep(1)


class TestcontainersProvider:
    name = "testcontainers"

    @contextmanager
    def settings(self, base: Settings) -> Iterator[Settings]:
        host = docker_host()
        kafka_port, connect_port = free_port(), free_port()
        specs = container_specs(base, host, kafka_port, connect_port)
        DockerImage(CONNECT_BUILD_CONTEXT, tag=CONNECT_IMAGE_TAG, dockerfile_path=CONNECT_DOCKERFILE).build()
        published: dict[str, int] = {}
        with ExitStack() as running, tempfile.TemporaryDirectory(prefix="shopstream-tc-") as state:
            network = running.enter_context(Network())
            for spec in specs:
                container = running.enter_context(build_container(spec, network))
                for port in spec.ports:  # one per published container
                    published[spec.name] = int(container.get_exposed_port(port))
                at = endpoints(base, host, kafka_port, connect_port, published)
                wait_until(
                    spec.name, probe(spec.name, at, base.influxdb.database), container, READY_TIMEOUT_S
                )
            # a fresh state dir: nothing of the local stack's .state is touched
            settings = at.apply(base).replace(state_dir=Path(state))
            ensure_pipeline(settings)  # as `stack up` does; the broker does not auto-create
            yield settings

    @contextmanager
    def stack(self, settings: Settings) -> Iterator[Stack]:
        """A handle over the containers' endpoints: its probes reach them, but it controls no process
        (the tests of the local process stack itself are skipped under this provider)."""
        yield Stack(settings)
