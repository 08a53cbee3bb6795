"""Where the integration tests find their services: one interface, two providers.

``SHOPSTREAM_TEST_STACK`` selects the provider: ``local`` (default) is the local stack of processes
(`shopstream stack up`); ``testcontainers`` runs the same services as containers (needs a Docker
engine; without one the tests are skipped with the Docker error, never passed). Either way the tests
get a ``Settings`` pointing at the services, so they do not know which provider ran them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from shopstream.settings import Settings

if TYPE_CHECKING:
    from shopstream.stack.stack import Stack

ENV_VAR = "SHOPSTREAM_TEST_STACK"
PROVIDERS = ("local", "testcontainers")


@dataclass(frozen=True)
class Endpoints:
    """Everything a test needs to reach the services; field names are those of ``Settings``."""

    kafka_bootstrap_servers: str
    kafka_security_protocol: str
    schema_registry_url: str
    schema_registry_admin_password: str
    schema_registry_connect_password: str
    schema_registry_reader_password: str
    connect_url: str
    connect_password: str
    mysql_host: str
    mysql_port: int
    mysql_user: str
    mysql_password: str
    influxdb_url: str
    influxdb_admin_user: str
    influxdb_admin_password: str
    influxdb_writer_user: str
    influxdb_writer_password: str
    influxdb_reader_user: str
    influxdb_reader_password: str

    @classmethod
    def of(cls, settings: Settings) -> Endpoints:
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = settings.value_of(f.name)
            values[f.name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return cls(**values)

    def apply(self, settings: Settings) -> Settings:
        """``settings`` pointing at these endpoints (names, topics and the rest unchanged)."""
        return settings.replace(**{f.name: getattr(self, f.name) for f in fields(self)})


def settings_env(settings: Settings) -> dict[str, str]:
    """The endpoints and the state dir as SHOPSTREAM_* variables: what in-process CLI commands and
    child processes (the Spark job, the producer) read."""
    endpoints = Endpoints.of(settings)
    values = {f.name: str(getattr(endpoints, f.name)) for f in fields(endpoints)}
    values["state_dir"] = str(settings.stack.state_dir)
    return {f"SHOPSTREAM_{name.upper()}": value for name, value in values.items()}


class StackProvider(Protocol):
    """What the ``settings`` and ``stack`` fixtures delegate to."""

    name: str

    def settings(self, base: Settings) -> AbstractContextManager[Settings]:
        """Settings pointing at running services (starting them if this provider owns them)."""
        ...

    def stack(self, settings: Settings) -> AbstractContextManager[Stack]:
        """The ``Stack`` handle the tests receive for these settings."""
        ...


def provider_name(environ: Mapping[str, str] = os.environ) -> str:
    name = environ.get(ENV_VAR, "local").strip().lower() or "local"
    if name not in PROVIDERS:
        raise ValueError(f"{ENV_VAR}={name!r}: expected one of {', '.join(PROVIDERS)}")
    return name


def select_provider(environ: Mapping[str, str] = os.environ) -> StackProvider:
    if provider_name(environ) == "local":
        from tests.providers.local import LocalStackProvider

        return LocalStackProvider()
    from tests.providers.containers import TestcontainersProvider

    return TestcontainersProvider()
