"""Declarative Kafka Connect deployment: the JSON files in ``connectors/`` are the desired state.

Placeholders ``${settings:FIELD}`` are resolved at deploy time from the settings object (endpoints,
names; never a secret: that fails; see ``shopstream/connector_file.py``). ``${env:NAME}`` is left to
the Connect worker's ``EnvVarConfigProvider`` so that secrets never sit in a file, in git or in the
connector config Connect stores.

Deploy adds the client security the settings ask for (``client_security``): the Kafka clients that a
connector builds itself (Debezium's schema history producer and consumer; the worker's ``producer.``,
``consumer.`` and ``admin.`` keys do not reach them) connect as the Connect role, and every Apicurio
converter authenticates as the registry's connect user; their passwords as ``${env:...}`` references.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopstream.clients.connect import KAFKA_PASSWORD_ENV, REGISTRY_PASSWORD_ENV, ConnectClient, env_ref
from shopstream.clients.kafka import java_security_config
from shopstream.connector_file import ConnectorFile, connector_files
from shopstream.errors import ConnectError
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings

_SECRET_KEYS = re.compile(r"password|secret|token|jaas", re.IGNORECASE)
HISTORY_CLIENT_PREFIXES = ("schema.history.internal.producer.", "schema.history.internal.consumer.")
HISTORY_BOOTSTRAP = "schema.history.internal.kafka.bootstrap.servers"
APICURIO_CONVERTER = "io.apicurio.registry.utils.converter.AvroConverter"


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    config: dict[str, str]
    source: Path

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")


def load_spec(settings: Settings, path: Path) -> ConnectorSpec:
    """One connector file, placeholders resolved; a malformed file fails naming it."""
    file = ConnectorFile.read(path)
    resolved = file.resolved(settings)
    return ConnectorSpec(
        file.name, {**client_security(settings, resolved), **resolved, "name": file.name}, file.path
    )


def client_security(settings: Settings, config: dict[str, str]) -> dict[str, str]:
    """What deploy adds to a connector's config (keys the file sets itself win): SASL (and TLS) for the
    Kafka clients of Debezium's schema history, as the Connect role; basic auth for its Apicurio
    converters, as the registry's connect user. Passwords are ``${env:...}`` references."""
    extra: dict[str, str] = {}
    if HISTORY_BOOTSTRAP in config:
        security = java_security_config(settings.kafka, "connect", password=env_ref(KAFKA_PASSWORD_ENV))
        extra |= {f"{prefix}{k}": v for prefix in HISTORY_CLIENT_PREFIXES for k, v in security.items()}
    login = settings.registry.login("connect")
    for key in ("key.converter", "value.converter"):
        if login is not None and config.get(key) == APICURIO_CONVERTER:
            extra[f"{key}.apicurio.auth.username"] = login.user
            extra[f"{key}.apicurio.auth.password"] = env_ref(REGISTRY_PASSWORD_ENV)
    return extra


def load_specs(settings: Settings, directory: Path | None = None) -> list[ConnectorSpec]:
    """Every ``*.json`` in the directory (default: the project's ``connectors/``), placeholders
    resolved; a malformed file fails naming it."""
    return [load_spec(settings, file.path) for file in connector_files(directory)]


def mask(config: dict[str, str]) -> dict[str, str]:
    return {k: ("*****" if _SECRET_KEYS.search(k) and "${" not in v else v) for k, v in config.items()}


def diff(desired: dict[str, str], current: dict[str, str] | None) -> dict[str, tuple[str | None, str | None]]:
    """key -> (current, desired) for every key that differs; empty when deploy would change nothing."""
    current = current or {}
    keys = set(desired) | set(current)
    return {k: (current.get(k), desired.get(k)) for k in sorted(keys) if current.get(k) != desired.get(k)}


def wait_running(client: ConnectClient, name: str, timeout_s: float = 120) -> dict[str, Any]:
    """Until the connector and all its tasks are RUNNING; a FAILED one raises with its trace."""

    def running() -> dict[str, Any]:
        resp = client.request("GET", f"/connectors/{name}/status")
        if not resp.ok:
            raise NotYet(f"status answered {resp.status_code}")
        status: dict[str, Any] = resp.json()
        states = [status["connector"], *status.get("tasks", [])]
        failed = [s for s in states if s["state"] == "FAILED"]
        if failed:
            trace = "\n".join(s.get("trace", "(no trace)") for s in failed)
            raise ConnectError(f"{name} FAILED:\n{trace}")
        if not (status.get("tasks") and all(s["state"] == "RUNNING" for s in states)):
            raise NotYet(json.dumps(status))
        return status

    return wait_until(running, timeout_s, f"{name} RUNNING", hint="see `shopstream connectors status`")


def deploy(client: ConnectClient, specs: list[ConnectorSpec], timeout_s: float = 120) -> list[str]:
    """Validate all (failing before any change), then PUT each and wait for RUNNING; returns lines."""
    problems = {spec.name: client.validate(spec.name, spec.config) for spec in specs}
    invalid = {name: errors for name, errors in problems.items() if errors}
    if invalid:
        lines = [f"{name}: {error}" for name, errors in invalid.items() for error in errors]
        raise ConnectError("invalid connector config, nothing deployed:\n  " + "\n  ".join(lines))
    report = []
    for spec in specs:
        changes = diff(spec.config, client.config(spec.name))
        if changes:
            resp = client.request("PUT", f"/connectors/{spec.name}/config", json=spec.config)
            if not resp.ok:
                raise ConnectError(f"PUT {spec.name}: {resp.status_code} {resp.text.strip()[:1000]}")
            verb = "created" if resp.status_code == 201 else f"updated ({len(changes)} keys)"
        else:
            verb = "unchanged"
        status = wait_running(client, spec.name, timeout_s)
        report.append(f"{spec.name}: {verb}, RUNNING with {len(status['tasks'])} task(s)")
    return report
