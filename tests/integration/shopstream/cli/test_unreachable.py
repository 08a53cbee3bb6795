"""Commands that need several services, with one of them on a closed port and the others real: the
command ends within 15 s (the harness' hard limit) with one error line naming that service, its
address, and a hint naming the setting; nothing else of it (no librdkafka lines) is printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from shopstream.stack.stack import Stack

CLOSED = "127.0.0.1:1"
HINT = "hint: is it running (`shopstream stack status`) and {} right?"
KAFKA = (
    {"SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS": CLOSED},
    f"Kafka unreachable at {CLOSED}",
    "is SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS",
)
REGISTRY = (
    {"SHOPSTREAM_SCHEMA_REGISTRY_URL": f"http://{CLOSED}/apis/ccompat/v7"},
    f"schema registry unreachable at http://{CLOSED}/apis/ccompat/v7",
    "is SHOPSTREAM_SCHEMA_REGISTRY_URL",
)
CONNECT = (
    {"SHOPSTREAM_CONNECT_URL": f"http://{CLOSED}"},
    f"Kafka Connect unreachable at http://{CLOSED}",
    "is SHOPSTREAM_CONNECT_URL",
)
INFLUXDB = (
    {"SHOPSTREAM_INFLUXDB_URL": f"http://{CLOSED}"},
    f"InfluxDB unreachable at http://{CLOSED}",
    "is SHOPSTREAM_INFLUXDB_URL",
)
MARIADB = (
    {"SHOPSTREAM_MYSQL_PORT": "1"},
    f"MariaDB unreachable at {CLOSED}",
    "are SHOPSTREAM_MYSQL_HOST and SHOPSTREAM_MYSQL_PORT",
)

CASES = {
    "produce, Kafka closed (the issue's case)": (["produce", "--count", "10"], KAFKA),
    "produce, registry closed": (["produce", "--count", "10"], REGISTRY),
    "spark run, registry closed": (["spark", "run"], REGISTRY),
    "spark run, MariaDB closed": (["spark", "run"], MARIADB),
    "bench spark, MariaDB closed": (["bench", "spark", "--rates", "1000"], MARIADB),
    "bench producer, registry closed": (["bench", "producer", "--count", "1000"], REGISTRY),
    "bench sink, Connect closed": (["bench", "sink", "--count", "1000"], CONNECT),
    "bench sink, InfluxDB closed": (["bench", "sink", "--count", "1000"], INFLUXDB),
    "pipeline monitor, InfluxDB closed": (["pipeline", "monitor"], INFLUXDB),
    "pipeline telemetry, InfluxDB closed": (["pipeline", "telemetry"], INFLUXDB),
    "demographics load, MariaDB closed": (["demographics", "load"], MARIADB),
}


def run(args: list[str], changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **changes, "COLUMNS": "300"}
    command = [sys.executable, "-m", "shopstream", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=15, check=False)


@pytest.mark.parametrize("case", CASES)
def test_one_service_unreachable_is_one_line(case: str, stack: Stack) -> None:
    args, (changes, message, setting) = CASES[case]
    result = run(args, changes)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"error: {message} ("), lines
    assert lines[1] == HINT.format(setting)


def test_run_with_kafka_closed_stops_at_the_stack_step_with_one_error(stack: Stack) -> None:
    """`run` brings the local stack up first (its services are running: nothing is started or
    rewritten), then cannot reach Kafka at the configured address."""
    changes, message, setting = KAFKA
    result = run(["run"], changes)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(("error:", "hint:"))]
    assert errors == [f"error: {message} (connection refused)", HINT.format(setting)]
    assert "rdkafka" not in result.stderr and "%3|" not in result.stderr


def test_pipeline_status_names_the_unreachable_service_in_its_checks(stack: Stack) -> None:
    changes, message, setting = CONNECT
    result = run(["pipeline", "status", "--json", "--interval", "0"], changes)
    assert result.returncode == 1, result.stderr
    failed = {
        (c["component"], c["name"]): c["detail"]
        for c in json.loads(result.stdout)["checks"]
        if c["health"] == "fail"
    }
    assert message in failed[("service", "connect")] and setting.split()[-1] in failed[("service", "connect")]
    assert message in failed[("connector", "Kafka Connect")]
