"""Declarative Kafka Connect deployment: the JSON files in ``connectors/`` are the desired state.

Placeholders ``${settings:FIELD}`` are resolved at deploy time from the settings object (endpoints,
names; never a secret: that fails; see ``shopstream/connector_file.py``). ``${env:NAME}`` is left to
the Connect worker's ``EnvVarConfigProvider`` so that secrets never sit in a file, in git or in the
connector config Connect stores.

Deploy adds the client security the settings ask for (``clients.connect.client_security``): the Kafka
clients that a connector builds itself connect as the Connect role, and every Apicurio converter
authenticates as the registry's connect user; their passwords as ``${env:...}`` references. Each
connector is then applied by the Connect client (``ConnectClient.apply``: PUT when it differs, wait
until RUNNING).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shopstream.clients.connect import ConnectClient, client_security
from shopstream.connector_file import ConnectorFile, connector_files
from shopstream.errors import ConnectError
from shopstream.settings import Settings

_SECRET_KEYS = re.compile(r"password|secret|token|jaas", re.IGNORECASE)


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
    security = client_security(settings.kafka, settings.registry, resolved)
    return ConnectorSpec(file.name, {**security, **resolved, "name": file.name}, file.path)


def load_specs(settings: Settings, directory: Path | None = None) -> list[ConnectorSpec]:
    """Every ``*.json`` in the directory (default: the project's ``connectors/``), placeholders
    resolved; a malformed file fails naming it."""
    return [load_spec(settings, file.path) for file in connector_files(directory)]


def mask(config: dict[str, str]) -> dict[str, str]:
    return {k: ("*****" if _SECRET_KEYS.search(k) and "${" not in v else v) for k, v in config.items()}


def deploy(client: ConnectClient, specs: list[ConnectorSpec], timeout_s: float = 120) -> list[str]:
    """Validate all (failing before any change), then PUT each and wait for RUNNING; returns lines."""
    problems = {spec.name: client.validate(spec.name, spec.config) for spec in specs}
    invalid = {name: errors for name, errors in problems.items() if errors}
    if invalid:
        lines = [f"{name}: {error}" for name, errors in invalid.items() for error in errors]
        raise ConnectError("invalid connector config, nothing deployed:\n  " + "\n  ".join(lines))
    report = []
    for spec in specs:
        applied = client.apply(spec.name, spec.config, timeout_s)
        report.append(f"{spec.name}: {applied.verb}, RUNNING with {applied.tasks} task(s)")
    return report
