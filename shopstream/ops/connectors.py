"""Declarative Kafka Connect deployment: the JSON files in ``connectors/`` are the desired state.

Placeholders ``${settings:FIELD}`` are resolved here, at deploy time, from the settings object
(endpoints, names). ``${env:NAME}`` is left to the Connect worker's ``EnvVarConfigProvider`` so
that secrets never sit in a file, in git or in the connector config Connect stores.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopstream.clients.connect import ConnectClient
from shopstream.errors import ConnectError
from shopstream.resources import project_file
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings

_PLACEHOLDER = re.compile(r"\$\{settings:([a-z_]+)\}")
_SECRET_KEYS = re.compile(r"password|secret|token", re.IGNORECASE)


@dataclass(frozen=True)
class ConnectorSpec:
    name: str
    config: dict[str, str]
    source: Path

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")


def resolve(value: str, settings: Settings, where: str) -> str:
    def lookup(match: re.Match[str]) -> str:
        field = match.group(1)
        if field not in Settings.model_fields and not hasattr(settings, field):
            raise ConnectError(f"{where}: unknown placeholder ${{settings:{field}}}")
        found = getattr(settings, field)
        return str(found.get_secret_value() if hasattr(found, "get_secret_value") else found)

    return _PLACEHOLDER.sub(lookup, value)


def connectors_dir() -> Path:
    """The project's ``connectors/`` folder: the desired state of the deployed connectors."""
    return project_file("connectors")


def load_spec(settings: Settings, path: Path) -> ConnectorSpec:
    """One connector file, placeholders resolved; a malformed file fails naming it."""
    try:
        body = json.loads(path.read_text())
        name, config = body["name"], body["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConnectError(f"{path}: expected {{'name': ..., 'config': {{...}}}} ({exc})") from exc
    resolved = {key: resolve(str(value), settings, f"{path.name}: {key}") for key, value in config.items()}
    return ConnectorSpec(name, {**resolved, "name": name}, path)


def load_specs(settings: Settings, directory: Path | None = None) -> list[ConnectorSpec]:
    """Every ``*.json`` in the directory (default: the project's ``connectors/``), placeholders
    resolved; a malformed file fails naming it."""
    return [load_spec(settings, path) for path in sorted((directory or connectors_dir()).glob("*.json"))]


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
