"""Up-front reachability of the services a command needs.

Each client has the one check of its service (``kafka.check_reachable``, ``Registry.check_reachable``,
``ConnectClient`` requests, ``InfluxClient.ping``, ``mariadb.check_reachable``); each fails within
seconds with an error naming the service, its address and the setting to change. A command calls
``require`` before it starts anything slow (a Spark session, a producer loop, a progress bar), so
that a wrong address is one line, not a stream of retries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from shopstream.clients import kafka, mariadb
from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient
from shopstream.clients.registry import registry_client
from shopstream.settings import KafkaRole, Settings

Endpoint = Literal["kafka", "registry", "connect", "influxdb", "mariadb"]


def _connect(settings: Settings) -> None:
    ConnectClient(settings.connect, timeout_s=10).json("GET", "/")


def _influxdb(settings: Settings) -> None:
    client = InfluxClient(settings.influxdb, timeout_s=5)
    try:
        client.ping()
    finally:
        client.close()


CHECKS: dict[Endpoint, Callable[[Settings], object]] = {
    "kafka": lambda settings: kafka.check_reachable(settings.kafka),
    "registry": lambda settings: registry_client(settings.registry, "reader", timeout_s=5).check_reachable(),
    "connect": _connect,
    "influxdb": _influxdb,
    "mariadb": lambda settings: mariadb.check_reachable(settings.mysql),
}


def require(settings: Settings, *endpoints: Endpoint, kafka_as: KafkaRole = "admin") -> None:
    """Check each endpoint in turn (Kafka as the command's role: a refused password is one line naming
    its setting); the first that does not answer raises its ShopstreamError."""
    checks: dict[Endpoint, Callable[[Settings], object]] = {
        **CHECKS,
        "kafka": lambda settings: kafka.check_reachable(settings.kafka, role=kafka_as),
    }
    for endpoint in endpoints:
        checks[endpoint](settings)
