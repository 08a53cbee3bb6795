"""The integration tests' service providers, without a Docker engine: which provider is selected,
the containers the testcontainers provider would start (images, env, ports), the endpoints it hands
the tests, and that a missing engine skips with Docker's error instead of passing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopstream.settings import Settings
from shopstream.stack.services.mariadb import REGISTRY_DATABASE
from tests.providers import ENV_VAR, Endpoints, provider_name, select_provider, settings_env
from tests.providers.containers import docker_host
from tests.providers.specs import (
    CONNECT_BUILD_CONTEXT,
    CONNECT_DOCKERFILE,
    CONNECT_IMAGE_TAG,
    MARIADB_INIT,
    ContainerSpec,
    compose_services,
    container_specs,
    endpoints,
)

HOST, KAFKA_PORT, CONNECT_PORT = "127.0.0.1", 29092, 28083


@pytest.fixture
def specs(clean_env: Path) -> dict[str, ContainerSpec]:
    return {s.name: s for s in container_specs(Settings(), HOST, KAFKA_PORT, CONNECT_PORT)}


def test_local_is_the_default_and_a_typo_is_an_error() -> None:
    assert provider_name({}) == "local"
    assert select_provider({}).name == "local"
    assert select_provider({ENV_VAR: "TestContainers"}).name == "testcontainers"
    with pytest.raises(ValueError, match="docker"):
        provider_name({ENV_VAR: "docker"})


def test_the_five_services_start_in_dependency_order_with_the_compose_images(
    specs: dict[str, ContainerSpec],
) -> None:
    assert list(specs) == ["mariadb", "influxdb", "kafka", "registry", "connect"]
    for name in ("mariadb", "influxdb", "kafka", "registry"):
        assert specs[name].image == compose_services()[name]["image"], name
    assert specs["connect"].image == CONNECT_IMAGE_TAG
    assert (CONNECT_BUILD_CONTEXT / CONNECT_DOCKERFILE).is_file()


def test_kafka_advertises_the_fixed_host_port_it_is_published_on(specs: dict[str, ContainerSpec]) -> None:
    kafka = specs["kafka"]
    assert kafka.bound_ports == {9092: KAFKA_PORT} and kafka.ports == ()
    assert f"HOST://{HOST}:{KAFKA_PORT}" in kafka.env["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka.env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka.env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_mariadb_has_the_settings_users_binlog_and_the_compose_init_script(
    specs: dict[str, ContainerSpec],
) -> None:
    s, mariadb = Settings(), specs["mariadb"]
    assert mariadb.ports == (3306,)
    assert mariadb.env["MARIADB_USER"] == s.mysql.user
    assert mariadb.env["MARIADB_PASSWORD"] == s.mysql.password.get_secret_value()
    assert mariadb.env["MARIADB_DATABASE"] == s.mysql.database
    assert mariadb.env["SHOPSTREAM_MYSQL_CDC_USER"] == s.mysql.cdc_user
    assert mariadb.env["SHOPSTREAM_MYSQL_CDC_PASSWORD"] == s.mysql.cdc_password.get_secret_value()
    assert {"--binlog-format=ROW", "--binlog-row-image=FULL"} <= set(mariadb.command)
    assert mariadb.files == {f"/docker-entrypoint-initdb.d/{MARIADB_INIT.name}": MARIADB_INIT}
    assert MARIADB_INIT.is_file()


def test_registry_stores_schemas_in_mariadb_over_the_network(specs: dict[str, ContainerSpec]) -> None:
    registry = specs["registry"]
    assert registry.ports == (8080,)
    assert registry.env["APICURIO_DATASOURCE_URL"] == f"jdbc:mysql://mariadb:3306/{REGISTRY_DATABASE}"
    assert registry.env["APICURIO_REST_DELETION_ARTIFACT_ENABLED"] == "true"


def test_influxdb_has_auth_on_and_the_settings_database(specs: dict[str, ContainerSpec]) -> None:
    s, influxdb = Settings(), specs["influxdb"]
    assert influxdb.ports == (8086,)
    assert influxdb.env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert influxdb.env["INFLUXDB_DB"] == s.influxdb.database
    assert influxdb.env["INFLUXDB_ADMIN_USER"] == s.influxdb.admin_user
    assert influxdb.env["INFLUXDB_ADMIN_PASSWORD"] == s.influxdb.admin_password.get_secret_value()
    assert influxdb.env["INFLUXDB_WRITE_USER"] == s.influxdb.writer_user
    assert influxdb.env["INFLUXDB_READ_USER"] == s.influxdb.reader_user


def test_connect_shares_the_host_network_and_reaches_kafka_where_the_tests_do(
    specs: dict[str, ContainerSpec],
) -> None:
    connect = specs["connect"]
    assert connect.host_network and connect.ports == () and connect.bound_ports == {}
    assert connect.env["CONNECT_BOOTSTRAP_SERVERS"] == f"{HOST}:{KAFKA_PORT}"
    assert connect.env["CONNECT_LISTENERS"] == f"http://{HOST}:{CONNECT_PORT}"
    assert connect.env["SHOPSTREAM_MYSQL_CDC_PASSWORD"] == Settings().mysql.cdc_password.get_secret_value()


def test_endpoints_become_settings_and_the_env_child_processes_read(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = Settings()
    published = {"mariadb": 32768, "influxdb": 32769, "registry": 32770}
    at = endpoints(base, HOST, KAFKA_PORT, CONNECT_PORT, published)
    settings = at.apply(base).replace(state_dir=clean_env)
    assert settings.kafka.bootstrap_servers == f"{HOST}:{KAFKA_PORT}" and settings.kafka.port == KAFKA_PORT
    assert settings.registry.url == f"http://{HOST}:32770/apis/ccompat/v7"
    assert settings.registry.base_url == f"http://{HOST}:32770"
    assert (settings.mysql.host, settings.mysql.port) == (HOST, 32768)
    assert settings.influxdb.url == f"http://{HOST}:32769" and settings.connect.port == CONNECT_PORT
    assert settings.topics.events == base.topics.events  # only endpoints change
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    from_env = Settings()
    assert Endpoints.of(from_env) == at and from_env.stack.state_dir == clean_env


def test_local_endpoints_are_the_settings_unchanged(clean_env: Path) -> None:
    base = Settings()
    assert Endpoints.of(base).apply(base) == base
    assert Endpoints.of(base).mysql_password == Settings().mysql.password.get_secret_value()


def test_without_a_docker_engine_selecting_testcontainers_skips_with_the_docker_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    with pytest.raises(pytest.skip.Exception, match=r"no Docker engine is reachable: .*Error"):
        docker_host()
