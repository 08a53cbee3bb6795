"""compose/docker-compose.yml, as docker-compose itself resolves it (no Docker engine needed), checked
against the project: the architecture's services, healthchecks and start order, loopback-only ports,
the SHOPSTREAM_* settings, Grafana's provisioning, and the Connect image's plugins at the versions the
local stack pins in compose/maven/pom.xml."""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from typer.testing import CliRunner

from shopstream.resources import project_dir
from shopstream.settings import Settings, secret_variables, setting_fields
from shopstream.stack.artifacts import SINK_PLUGIN, pom_properties, sink_module
from shopstream.stack.influxd import INFLUXDB_VERSION
from shopstream.stack.services.base import StackContext
from shopstream.stack.services.connect import worker_properties
from shopstream.stack.services.mariadb import CDC_GRANTS, REGISTRY_DATABASE

REPO_ROOT = project_dir()
COMPOSE_DIR = REPO_ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
CONNECT_DIR = COMPOSE_DIR / "docker" / "connect"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
SERVICES = {"kafka", "registry", "connect", "mariadb", "influxdb", "grafana", "spark-job", "producer", "init"}
SERVICES |= {
    "telemetry",
    "jmx-agent",
    "prometheus",
    "alertmanager",
}  # monitoring (test_compose_monitoring.py)
ONE_SHOT = {"init", "jmx-agent"}
APP_SERVICES = {"init", "spark-job", "producer", "telemetry"}
# inside the compose network; a host .env's 127.0.0.1 endpoints must not replace them
IN_NETWORK = {
    "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "SHOPSTREAM_SCHEMA_REGISTRY_URL": "http://registry:8080/apis/ccompat/v7",
    "SHOPSTREAM_CONNECT_URL": "http://connect:8083",
    "SHOPSTREAM_MYSQL_HOST": "mariadb",
    "SHOPSTREAM_MYSQL_PORT": "3306",
    "SHOPSTREAM_INFLUXDB_URL": "http://influxdb:8086",
    "SHOPSTREAM_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",  # Kafka is secured in the local stack only
    "SHOPSTREAM_PROMETHEUS_URL": "http://prometheus:9090",
    "SHOPSTREAM_ALERTMANAGER_URL": "http://alertmanager:9093",
    "SHOPSTREAM_METRICS_BIND_ADDRESS": "0.0.0.0",  # Prometheus scrapes from its own container
}
# every secret is required (no default): what scripts/setup.sh's .env holds
SECRETS = {f"SHOPSTREAM_{name.upper()}": f"test-{name}" for name in secret_variables()}
SECRETS_ENV = "".join(f"{var}={value}\n" for var, value in SECRETS.items())


def compose_run(tmp_path: Path, env_file_text: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with only ``env_file_text`` as .env and no SHOPSTREAM_* from the shell."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is missing: scripts/setup.sh installs it (apt-get install docker-compose)"
        )
    env_file = tmp_path / "compose.env"
    env_file.write_text(env_file_text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSTREAM_")}
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def compose_config(tmp_path: Path, env_file_text: str = SECRETS_ENV) -> dict[str, Any]:
    """The resolved configuration with ``env_file_text`` as .env (by default: only the secrets)."""
    result = compose_run(tmp_path, env_file_text)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose_config(tmp_path_factory.mktemp("compose"))["services"]
    return services


def dockerfile_args(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", path.read_text(), re.MULTILINE))


def test_every_service_of_the_architecture_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart", "no") == "no", name
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL") and not service["healthcheck"].get("disable"), name


def test_start_order_waits_for_health_and_for_the_init_job(services: dict[str, dict[str, Any]]) -> None:
    def needs(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}

    for name in services:
        for dep, condition in needs(name).items():
            expected = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert condition == expected, (name, dep)
    assert needs("registry") == {"mariadb": "service_healthy"}
    assert set(needs("connect")) >= {"kafka", "registry"}
    assert set(needs("init")) == {"kafka", "registry", "connect", "mariadb", "influxdb"}
    assert needs("spark-job") == {"init": "service_completed_successfully"}
    assert needs("producer") == {"init": "service_completed_successfully", "spark-job": "service_healthy"}


def test_published_ports_are_bound_to_loopback(services: dict[str, dict[str, Any]]) -> None:
    published = []
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", (name, port)
            published.append(name)
    assert set(published) == {
        "kafka", "registry", "connect", "mariadb", "influxdb", "grafana", "prometheus", "alertmanager"
    }  # fmt: skip


def test_grafana_mounts_the_provisioning_and_gets_every_variable_it_expands(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    mounts = {tuple(v.split(":")[:2]) for v in grafana["volumes"]}
    assert (str(REPO_ROOT / "grafana" / "provisioning"), "/etc/grafana/provisioning") in mounts
    assert (str(REPO_ROOT / "grafana" / "dashboards"), "/var/lib/grafana/dashboards") in mounts
    texts = [f.read_text() for f in (REPO_ROOT / "grafana" / "provisioning").rglob("*.y*ml")]
    uncommented = [re.sub(r"(?m)^\s*#.*$", "", text) for text in texts]
    expanded = {name for text in uncommented for name in re.findall(r"\$\{(\w+)\}", text)}
    assert expanded, "no ${VAR} found in grafana/provisioning"
    assert expanded <= set(grafana["environment"]), expanded - set(grafana["environment"])


def test_shopstream_variables_are_settings_with_the_local_defaults(
    services: dict[str, dict[str, Any]],
) -> None:
    """Every SHOPSTREAM_* name is a field of Settings; with a .env of secrets only, each value is the
    field's default except the in-network endpoints and the secrets (.env's); the app's settings
    validate."""
    fields = setting_fields()
    for name, service in services.items():
        for var, value in service.get("environment", {}).items():
            if not var.startswith("SHOPSTREAM_") or var in IN_NETWORK:
                continue
            field = fields.get(var.removeprefix("SHOPSTREAM_").lower())
            assert field is not None and field.annotation is not None, f"{name}: {var} is not a setting"
            if var in SECRETS:
                assert value == SECRETS[var], (name, var)
                continue
            assert TypeAdapter(field.annotation).validate_python(value) == field.default, (name, var)
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert IN_NETWORK.items() <= env.items(), name
        Settings().replace(**{k.removeprefix("SHOPSTREAM_").lower(): v for k, v in env.items()})


def test_env_file_sets_credentials_but_not_the_in_network_endpoints(tmp_path: Path) -> None:
    services = compose_config(
        tmp_path,
        SECRETS_ENV
        + "SHOPSTREAM_MYSQL_PASSWORD=from-env-file\nSHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092\n",
    )["services"]
    assert services["mariadb"]["environment"]["MARIADB_PASSWORD"] == "from-env-file"
    assert services["registry"]["environment"]["APICURIO_DATASOURCE_PASSWORD"] == "from-env-file"
    for name in (*APP_SERVICES, "grafana"):
        assert services[name]["environment"]["SHOPSTREAM_MYSQL_PASSWORD"] == "from-env-file", name
    for name in APP_SERVICES:
        assert services[name]["environment"]["SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_init_runs_the_pipelines_setup_steps_with_the_cli(services: dict[str, dict[str, Any]]) -> None:
    from shopstream.cli import app

    *_, script = services["init"]["command"]
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    assert lines == [
        "shopstream compose topics",
        "shopstream schemas register",
        "shopstream schemas evolve",
        "shopstream demographics load",
        "shopstream connectors deploy",
    ]
    healthchecks = [services[name]["healthcheck"]["test"][1:] for name in ("spark-job", "producer")]
    assert healthchecks == [
        ["shopstream", "compose", "health-spark"],
        ["shopstream", "compose", "health-producer"],
    ]
    for command in [line.split() for line in lines] + healthchecks:
        result = CliRunner().invoke(app, [*command[1:], "--help"])
        assert result.exit_code == 0, (command, result.output)


def test_app_images_are_one_build_with_secrets_and_local_state_ignored(
    services: dict[str, dict[str, Any]],
) -> None:
    builds = {(services[n]["build"]["context"], services[n]["build"]["dockerfile"]) for n in APP_SERVICES}
    assert builds == {(str(REPO_ROOT), "compose/docker/app/Dockerfile")}
    dockerfile = REPO_ROOT / "compose" / "docker" / "app" / "Dockerfile"
    ignored = set((dockerfile.parent / "Dockerfile.dockerignore").read_text().split())
    assert {".env", ".venv", ".state", ".git"} <= ignored
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.MULTILINE)
    assert all(source not in (".", "./", ".env") for line in copied for source in line.split()), copied


def test_images_are_the_local_stacks_versions(services: dict[str, dict[str, Any]]) -> None:
    pom = pom_properties()
    assert services["kafka"]["image"] == f"apache/kafka:{pom['kafka.version']}"
    assert services["registry"]["image"] == f"apicurio/apicurio-registry:{pom['apicurio.version']}"
    assert services["influxdb"]["image"] == f"influxdb:{INFLUXDB_VERSION}"
    assert services["mariadb"]["image"].startswith("mariadb:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def test_connect_image_adds_the_three_plugins_at_the_local_stacks_versions(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["connect"]["build"] == {
        "context": str(REPO_ROOT),
        "dockerfile": "compose/docker/connect/Dockerfile",
    }
    pom = pom_properties()
    dockerfile = (CONNECT_DIR / "Dockerfile").read_text()
    assert dockerfile_args(CONNECT_DIR / "Dockerfile") == {
        "KAFKA_VERSION": pom["kafka.version"],
        "APICURIO_CONVERTER_VERSION": pom["apicurio.converter.version"],
        "DEBEZIUM_VERSION": pom["debezium.version"],
    }
    assert "FROM apache/kafka:${KAFKA_VERSION}" in dockerfile
    assert "-pl apicurio-converter" in dockerfile  # the local stack's own pom module
    assert "io.debezium:debezium-connector-mariadb:${DEBEZIUM_VERSION}:tar.gz:plugin" in dockerfile


def test_connect_image_builds_the_influxdb_sink_from_the_same_sources_with_its_tests() -> None:
    """A Maven stage builds connectors/influxdb-sink as the local stack does (`mvn package`: JUnit tests
    through Surefire, then the plugin folder), and the plugin folder lands on the worker's plugin.path
    under the local stack's folder name. The stage has no influxd, so it leaves out exactly the tests
    that need one, by the module's explicit switch (its pom's without-influxd profile), and nothing
    else. No third-party InfluxDB sink is fetched."""
    dockerfile = (CONNECT_DIR / "Dockerfile").read_text()
    module = sink_module().relative_to(REPO_ROOT).as_posix()
    assert module == "connectors/influxdb-sink"
    assert re.search(r"^FROM maven:\S+ AS influxdb-sink$", dockerfile, re.MULTILINE)
    assert f"COPY {module}/pom.xml influxdb-sink/pom.xml" in dockerfile
    assert f"COPY {module}/src influxdb-sink/src" in dockerfile
    [package] = re.findall(r"^RUN mvn (.*-f influxdb-sink/pom.xml package.*)$", dockerfile, re.MULTILINE)
    assert "skipTests" not in package and "maven.test.skip" not in package
    assert (
        "-Dinfluxd.tests=exclude" in package and "-Dtest=" not in package and "excludedGroups" not in package
    )
    profiles = {
        p.findtext("m:id", namespaces=POM_NS): p
        for p in ET.parse(sink_module() / "pom.xml").getroot().findall("m:profiles/m:profile", POM_NS)
    }
    switch = profiles["without-influxd"]
    assert switch.findtext("m:activation/m:property/m:name", namespaces=POM_NS) == "influxd.tests"
    assert switch.findtext("m:activation/m:property/m:value", namespaces=POM_NS) == "exclude"
    assert switch.findtext("m:properties/m:influxd.excludedGroups", namespaces=POM_NS) == "influxd"
    sink_pom = ET.parse(sink_module() / "pom.xml").getroot()
    plugin_dir_name = sink_pom.findtext("m:properties/m:plugin.dir.name", namespaces=POM_NS)
    assert plugin_dir_name == SINK_PLUGIN
    assert (
        f"COPY --from=influxdb-sink --chown=appuser:appuser /build/influxdb-sink/target/plugin/{SINK_PLUGIN} "
        f"/opt/connect/plugins/{SINK_PLUGIN}"
    ) in dockerfile
    assert "willena" not in dockerfile.lower() and "connect-influxdb-sink" not in dockerfile


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether a .dockerignore excludes the path: the last pattern matching it (or a folder above it)
    wins; ``!`` re-includes; ``**`` spans folders."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!").rstrip("/").replace("**/", "*/").replace("**", "*")
        if any(fnmatch.fnmatchcase(prefix, glob) for prefix in prefixes):
            excluded = not negated
    return excluded


def _ignore_patterns(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_connect_build_context_sends_its_sources_but_nothing_local_or_built() -> None:
    """The repository root is the context: BuildKit reads the Dockerfile's own ignore file (an allowlist),
    other builders (testcontainers' docker-py) the root .dockerignore. Both send every COPY source and
    neither sends secrets, local state or the sink's local build output."""
    dockerfile = (CONNECT_DIR / "Dockerfile").read_text()
    sources = [
        source
        for line in re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE)
        for source in line.split()
    ]
    assert {
        "compose/maven/",
        "connectors/influxdb-sink/src",
        "compose/docker/connect/start-connect.sh",
    } <= set(sources)
    module_files = [
        p.relative_to(REPO_ROOT).as_posix() for p in (sink_module() / "src").rglob("*") if p.is_file()
    ]
    needed = [
        *(source.rstrip("/") + "/pom.xml" if source.endswith("/") else source for source in sources),
        *module_files,
    ]
    never = [
        ".env", ".venv/bin/python", ".state/kafka/meta.properties", ".git/config",
        "connectors/influxdb-sink/target/plugin/shopstream-influxdb-sink/x.jar",
        "compose/maven/kafka/target/x.jar",
    ]  # fmt: skip
    for ignore_file in (CONNECT_DIR / "Dockerfile.dockerignore", REPO_ROOT / ".dockerignore"):
        patterns = _ignore_patterns(ignore_file)
        assert [p for p in needed if _ignored(p, patterns)] == [], ignore_file
        assert [p for p in never if not _ignored(p, patterns)] == [], ignore_file
    allowlist = _ignore_patterns(CONNECT_DIR / "Dockerfile.dockerignore")
    assert _ignored("connectors/influxdb-events.json", allowlist) and _ignored("README.md", allowlist)


def test_connect_workers_properties_are_the_local_stacks(clean_env: Path, tmp_path: Path) -> None:
    """The image's start script, run for real with the Dockerfile's ENV defaults plus the endpoints,
    writes the worker properties the local stack writes (endpoints aside)."""
    env_block = re.search(r"^ENV (CONNECT_.*?)(?=^\S)", (CONNECT_DIR / "Dockerfile").read_text(), re.M | re.S)
    assert env_block is not None
    defaults = dict(re.findall(r"(CONNECT_\w+)=(\S+)", env_block.group(1)))
    launcher = tmp_path / "bin" / "connect-distributed.sh"  # stands in for Kafka's: prints its argument
    launcher.parent.mkdir()
    launcher.write_text('#!/bin/sh\ncat "$1"\n')
    launcher.chmod(0o755)
    endpoints = {"CONNECT_BOOTSTRAP_SERVERS": "kafka:9092", "CONNECT_REST_ADVERTISED_HOST_NAME": "connect"}
    result = subprocess.run(
        [str(CONNECT_DIR / "start-connect.sh")],
        env={"PATH": os.environ["PATH"], "KAFKA_HOME": str(tmp_path), **defaults, **endpoints,
             "CONNECT_WORKER_PROPERTIES": str(tmp_path / "worker.properties")},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    written = dict(line.split("=", 1) for line in result.stdout.splitlines())
    local = {
        k: str(v)
        for k, v in worker_properties(
            StackContext(Settings().replace(kafka_security_protocol="PLAINTEXT")), Path("/plugins")
        ).items()
    }
    endpoint_keys = {"bootstrap.servers", "listeners", "rest.advertised.host.name", "rest.advertised.port"}
    shared = set(local) - endpoint_keys - {"plugin.path"}
    assert {k: written[k] for k in shared} == {k: local[k] for k in shared}
    assert written["bootstrap.servers"] == "kafka:9092"
    assert written["plugin.path"] == "/opt/connect/plugins"
    assert written["listeners"] == "http://0.0.0.0:8083"


def test_mariadb_keeps_a_row_binlog_and_creates_the_registry_db_and_cdc_user(
    services: dict[str, dict[str, Any]],
) -> None:
    command = services["mariadb"]["command"]
    assert {"--binlog-format=ROW", "--binlog-row-image=FULL", "--server-id=1"} <= set(command)
    assert any(arg.startswith("--log-bin") for arg in command)
    env = services["mariadb"]["environment"]
    assert env["MARIADB_ROOT_HOST"] == "localhost" and env["MARIADB_RANDOM_ROOT_PASSWORD"] == "1"
    init_dir = next(
        v.split(":")[0] for v in services["mariadb"]["volumes"] if "docker-entrypoint-initdb.d" in v
    )
    [script] = Path(init_dir).glob("*.sh")
    text = script.read_text()
    assert f"CREATE DATABASE IF NOT EXISTS \\`{REGISTRY_DATABASE}\\`" in text
    assert f"GRANT {CDC_GRANTS} ON *.*" in text
    assert not os.access(script, os.X_OK), "the entrypoint must source it (its SQL helpers), not run it"
    registry = services["registry"]["environment"]
    assert registry["APICURIO_DATASOURCE_URL"] == f"jdbc:mysql://mariadb:3306/{REGISTRY_DATABASE}"


def test_influxdb_has_auth_on_and_the_database(services: dict[str, dict[str, Any]]) -> None:
    env = services["influxdb"]["environment"]
    defaults = setting_fields()
    assert env["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert env["INFLUXDB_DB"] == defaults["influxdb_database"].default
    assert env["INFLUXDB_ADMIN_USER"] == defaults["influxdb_admin_user"].default
    assert env["INFLUXDB_ADMIN_PASSWORD"] == SECRETS["SHOPSTREAM_INFLUXDB_ADMIN_PASSWORD"]
    assert env["INFLUXDB_WRITE_USER"] == defaults["influxdb_writer_user"].default
    assert env["INFLUXDB_READ_USER"] == defaults["influxdb_reader_user"].default
    assert "-password" not in str(services["influxdb"]["healthcheck"]["test"])
    grafana = services["grafana"]["environment"]
    assert grafana["SHOPSTREAM_INFLUXDB_READER_USER"] == defaults["influxdb_reader_user"].default


def test_every_secret_is_required_grafanas_admin_password_included(tmp_path: Path) -> None:
    """No secret has a default: without one, Compose refuses to start and names it."""
    services = compose_config(tmp_path)["services"]
    assert (
        services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
        == SECRETS["SHOPSTREAM_GRAFANA_ADMIN_PASSWORD"]
    )
    for var in ("SHOPSTREAM_GRAFANA_ADMIN_PASSWORD", "SHOPSTREAM_INFLUXDB_WRITER_PASSWORD"):
        text = "".join(line for line in SECRETS_ENV.splitlines(keepends=True) if not line.startswith(var))
        result = compose_run(tmp_path, text)
        assert result.returncode != 0 and var in result.stderr, (var, result.stderr)
    assert "-local}" not in COMPOSE_FILE.read_text()  # the former fixed passwords
