"""The stack's error paths: each failure names the cause and the fix."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopstream.errors import MissingPrerequisite, PortInUse
from shopstream.settings import Settings
from shopstream.stack.java import find_jdk, java_major
from shopstream.stack.paths import StackPaths
from shopstream.stack.services.base import require_binary
from shopstream.stack.stack import Stack, port_open
from shopstream.stack.supervisor import Program, render_config, render_program


@pytest.fixture
def listener() -> Iterator[int]:
    """A port held by this test process, as a foreign process would hold it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_in_use_names_port_service_owner_and_setting(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, listener: int
) -> None:
    monkeypatch.setenv("SHOPSTREAM_STATE_DIR", str(clean_env / "state"))
    monkeypatch.setenv("SHOPSTREAM_CONNECT_URL", f"http://127.0.0.1:{listener}")
    # every other service on a port nobody listens on
    for offset, name in enumerate(("KAFKA_CONTROLLER_PORT", "MYSQL_PORT")):
        monkeypatch.setenv(f"SHOPSTREAM_{name}", str(_free_port() + offset))
    monkeypatch.setenv("SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{_free_port()}")
    monkeypatch.setenv("SHOPSTREAM_SCHEMA_REGISTRY_URL", f"http://127.0.0.1:{_free_port()}/apis/ccompat/v7")
    monkeypatch.setenv("SHOPSTREAM_INFLUXDB_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("SHOPSTREAM_CONNECT_JOLOKIA_URL", f"http://127.0.0.1:{_free_port()}/jolokia")
    # the monitoring's services and agents (on by default), off the ports a running stack holds
    for name in ("KAFKA_METRICS_PORT", "CONNECT_METRICS_PORT", "STACK_METRICS_PORT"):
        monkeypatch.setenv(f"SHOPSTREAM_{name}", str(_free_port()))
    monkeypatch.setenv("SHOPSTREAM_PROMETHEUS_URL", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("SHOPSTREAM_ALERTMANAGER_URL", f"http://127.0.0.1:{_free_port()}")
    stack = Stack(Settings())
    assert port_open(listener)
    held = [  # a stack running on the default ports beside this test (as in CI) must not be met first
        (svc.name, port)
        for svc in stack.services
        for port in svc.ports
        if port != listener and port_open(port)
    ]
    assert held == [], "every other port of the stack is moved to a free one"
    with pytest.raises(PortInUse) as err:
        stack._check_ports()
    message = str(err.value)
    assert f"port {listener} needed by connect" in message
    assert "SHOPSTREAM_CONNECT_URL" in message
    assert f"pid {os.getpid()} " in message  # the owner: this test process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_binary_says_which_package_to_install() -> None:
    with pytest.raises(MissingPrerequisite, match=r"no-such-daemon not found.*apt-get install some-package"):
        require_binary("no-such-daemon", "some-package")


def test_no_java_new_enough_says_how_to_fix() -> None:
    with pytest.raises(MissingPrerequisite, match=r"no Java 99\+ found.*SHOPSTREAM_JAVA_HOME"):
        find_jdk(99, None, "SHOPSTREAM_JAVA_HOME")


def test_configured_java_home_that_is_not_a_jdk_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MissingPrerequisite, match=r"SHOPSTREAM_REGISTRY_JAVA_HOME=.* is not a JDK 21"):
        find_jdk(21, tmp_path, "SHOPSTREAM_REGISTRY_JAVA_HOME")


def test_java_major_reads_the_running_jdk() -> None:
    jdk = find_jdk(17, None, "SHOPSTREAM_JAVA_HOME")
    assert java_major(jdk.java) == jdk.major >= 17
    assert java_major(Path("/nonexistent/java")) is None


def test_supervisor_config_escapes_percent_and_keeps_programs_manual(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "state", tmp_path / "cache")
    text = render_config(paths, [Program("svc", ["run", "--fmt=%d items"], {"PW": "a%b"})])
    assert "command=run '--fmt=%%d items'" in text
    assert 'environment=PW="a%%b"' in text
    assert "autostart=false" in text
    assert f"stdout_logfile={tmp_path / 'state' / 'logs' / 'svc.log'}" in text


def test_supervisor_config_includes_the_program_files_and_a_job_stops_alone(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "state", tmp_path / "cache")
    text = render_config(paths, [])
    assert f"[include]\nfiles={tmp_path / 'state' / 'programs'}/*.conf" in text
    job = "\n".join(
        render_program(
            paths, Program("spark-enrich", ["python"], stop_as_group=False, log=tmp_path / "j.log")
        )
    )
    assert "stopasgroup=false\nkillasgroup=true" in job
    assert f"stdout_logfile={tmp_path / 'j.log'}" in job


SINGLE = ["mariadb", "influxdb", "kafka", "registry", "connect"]


def test_the_service_names_are_the_services_in_start_order() -> None:
    from shopstream.stack.stack import MONITORING_SERVICES, service_names

    assert [svc.name for svc in Stack(Settings()).services] == [*SINGLE, *MONITORING_SERVICES]
    assert [svc.name for svc in Stack(Settings().replace(monitoring=False)).services] == SINGLE
    assert service_names(Settings()) == SINGLE


def test_the_cluster_profile_runs_a_service_per_broker_worker_and_spark_daemon() -> None:
    from shopstream.settings import load_settings
    from shopstream.stack.stack import service_names

    cluster = load_settings({"SHOPSTREAM_ENV_FILE": "", "SHOPSTREAM_STACK_PROFILE": "cluster"})
    assert service_names(cluster) == [
        "mariadb", "influxdb", "kafka", "kafka-2", "kafka-3", "registry", "connect", "connect-2",
        "spark-master", "spark-worker-1", "spark-worker-2",
    ]  # fmt: skip
    services = {svc.name: svc for svc in Stack(cluster).services}
    # the quorum starts together: each broker but the last is waited for with the next
    assert [services[n].with_next for n in ("kafka", "kafka-2", "kafka-3")] == [True, True, False]
    assert set(services["kafka-3"].ports) == {19096, 19195, 19412}
    assert set(services["connect-2"].ports) == {18084, 18779, 19421}
    # an explicit setting wins over the profile's default
    two = load_settings(
        {
            "SHOPSTREAM_ENV_FILE": "",
            "SHOPSTREAM_STACK_PROFILE": "cluster",
            "SHOPSTREAM_CONNECT_URL": "http://127.0.0.1:8083",
            "SHOPSTREAM_SPARK_MASTER": "local[*]",
        }
    )
    assert service_names(two)[-3:] == ["kafka-3", "registry", "connect"]
