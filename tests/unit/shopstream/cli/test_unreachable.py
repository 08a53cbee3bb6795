"""Every command against closed ports (nothing listens on 127.0.0.1:1): it ends within 15 s with one
error line naming the service and its address, and a hint naming the setting to change.

The commands run as users run them, in a child process; the 15 s are the harness' hard limit
(``subprocess.run(timeout=15)``), not a measurement. No service is needed: every endpoint is closed
and the state dir is empty (the commands that report, `stack status` and `pipeline status`, report).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shopstream.resources import project_dir

CLOSED = "127.0.0.1:1"
KAFKA = (f"Kafka unreachable at {CLOSED} (connection refused)", "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS")
REGISTRY = (
    f"schema registry unreachable at http://{CLOSED}/apis/ccompat/v7 (connection refused)",
    "SHOPSTREAM_SCHEMA_REGISTRY_URL",
)
CONNECT = (f"Kafka Connect unreachable at http://{CLOSED} (connection refused)", "SHOPSTREAM_CONNECT_URL")
MARIADB = (f"MariaDB unreachable at {CLOSED} (connection refused)", "SHOPSTREAM_MYSQL_PORT")
INFLUXDB = (f"InfluxDB unreachable at http://{CLOSED} (connection refused)", "SHOPSTREAM_INFLUXDB_URL")
EVENT_SCHEMA = str(project_dir() / "schemas" / "avro" / "shop_event.v2.avsc")

COMMANDS: dict[str, tuple[list[str], tuple[str, str]]] = {
    "produce": (["produce", "--count", "10"], KAFKA),
    "bench producer": (["bench", "producer", "--count", "1000"], KAFKA),
    "bench spark": (["bench", "spark", "--rates", "1000"], KAFKA),
    "bench sink": (["bench", "sink", "--count", "1000"], KAFKA),
    "spark run": (["spark", "run"], KAFKA),
    "pipeline monitor": (["pipeline", "monitor"], KAFKA),
    "pipeline telemetry": (["pipeline", "telemetry"], KAFKA),
    "schemas register": (["schemas", "register"], REGISTRY),
    "schemas check": (["schemas", "check", EVENT_SCHEMA, "-s", "shop.events-value"], REGISTRY),
    "schemas evolve": (["schemas", "evolve"], REGISTRY),
    "schemas list": (["schemas", "list"], REGISTRY),
    "schemas show": (["schemas", "show", "shop.events-value"], REGISTRY),
    "connectors deploy": (["connectors", "deploy"], CONNECT),
    "connectors diff": (["connectors", "diff"], CONNECT),
    "connectors status": (["connectors", "status"], CONNECT),
    "connectors restart": (["connectors", "restart"], CONNECT),
    "connectors pause": (["connectors", "pause", "shopstream-demographics-source"], CONNECT),
    "connectors resume": (["connectors", "resume", "shopstream-demographics-source"], CONNECT),
    "connectors delete": (["connectors", "delete", "shopstream-demographics-source"], CONNECT),
    "connectors prune": (["connectors", "prune"], CONNECT),
    "demographics load": (["demographics", "load"], MARIADB),
}


def closed_endpoints(state_dir: Path) -> dict[str, str]:
    """This environment without SHOPSTREAM_* settings, every endpoint on the closed port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPSTREAM_")}
    return env | {
        "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS": CLOSED,
        "SHOPSTREAM_SCHEMA_REGISTRY_URL": f"http://{CLOSED}/apis/ccompat/v7",
        "SHOPSTREAM_CONNECT_URL": f"http://{CLOSED}",
        "SHOPSTREAM_CONNECT_JOLOKIA_URL": "",
        "SHOPSTREAM_INFLUXDB_URL": f"http://{CLOSED}",
        "SHOPSTREAM_MYSQL_PORT": "1",
        "SHOPSTREAM_STATE_DIR": str(state_dir),  # no supervisord there: nothing is started or stopped
        "COLUMNS": "300",  # tables: one line per row
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command in a child process, killed (and the test failed) after 15 s."""
    command = [sys.executable, "-m", "shopstream", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=15, check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", 1)) != 0, "something listens on 127.0.0.1:1"
    return closed_endpoints(tmp_path_factory.mktemp("state"))


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_fails_with_one_line_naming_service_address_and_setting(
    name: str, env: dict[str, str]
) -> None:
    args, (message, setting) = COMMANDS[name]
    result = run(args, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {message}",
        f"hint: is it running (`shopstream stack status`) and {_setting_words(setting)} right?",
    ]


def _setting_words(setting: str) -> str:
    if setting == "SHOPSTREAM_MYSQL_PORT":
        return "are SHOPSTREAM_MYSQL_HOST and SHOPSTREAM_MYSQL_PORT"
    return f"is {setting}"


def test_stack_status_reports_each_service_unreachable_and_exits_1(env: dict[str, str]) -> None:
    result = run(["stack", "status"], env)
    assert result.returncode == 1, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│ ")}
    for service, (message, setting) in {
        "mariadb": MARIADB,
        "influxdb": INFLUXDB,
        "kafka": KAFKA,
        "registry": REGISTRY,
        "connect": CONNECT,
    }.items():
        assert message in rows[service] and setting in rows[service], rows[service]


def test_pipeline_status_reports_kafka_unreachable_once_and_exits_1(env: dict[str, str]) -> None:
    result = run(["pipeline", "status", "--json"], env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    [kafka] = [c for c in report["checks"] if c["component"] == "kafka"]
    assert kafka["name"] == CLOSED and kafka["health"] == "fail"
    assert kafka["detail"].startswith(KAFKA[0]) and KAFKA[1] in kafka["detail"]
    assert {c["component"] for c in report["checks"]} == {"service", "kafka"}  # no program runs here

    table = run(["pipeline", "status"], env)
    assert table.returncode == 1
    assert any(KAFKA[0] in line and KAFKA[1] in line for line in table.stdout.splitlines())
