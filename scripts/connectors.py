"""Declarative Kafka Connect deployment: the JSON files in ``connectors/`` are the desired state.

Placeholders ``${settings:FIELD}`` are resolved here, at deploy time, from the settings object
(endpoints, names). ``${env:NAME}`` is left to the Connect worker's ``EnvVarConfigProvider`` so
that secrets never sit in a file, in git or in the connector config Connect stores.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from scripts.settings import REPO_ROOT, Settings

CONNECTORS_DIR = REPO_ROOT / "connectors"
_PLACEHOLDER = re.compile(r"\$\{settings:([a-z_]+)\}")
_SECRET_KEYS = re.compile(r"password|secret|token", re.IGNORECASE)


class ConnectError(RuntimeError):
    """Connect refused a request or a connector failed; the message names the cause."""


class Rebalancing(ConnectError):
    """409: the worker group is rebalancing; the request is retried."""


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


def load_specs(settings: Settings, directory: Path = CONNECTORS_DIR) -> list[ConnectorSpec]:
    """Every ``*.json`` in the directory, placeholders resolved; a malformed file fails naming it."""
    specs = []
    for path in sorted(directory.glob("*.json")):
        try:
            body = json.loads(path.read_text())
            name, config = body["name"], body["config"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConnectError(f"{path}: expected {{'name': ..., 'config': {{...}}}} ({exc})") from exc
        resolved = {
            key: resolve(str(value), settings, f"{path.name}: {key}") for key, value in config.items()
        }
        specs.append(ConnectorSpec(name, {**resolved, "name": name}, path))
    return specs


def mask(config: dict[str, str]) -> dict[str, str]:
    return {k: ("*****" if _SECRET_KEYS.search(k) and "${" not in v else v) for k, v in config.items()}


class ConnectClient:
    def __init__(self, url: str, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    @retry(
        retry=retry_if_exception_type(Rebalancing),
        wait=wait_exponential(multiplier=0.25, max=4),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = requests.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
        except requests.ConnectionError as exc:
            raise ConnectError(
                f"Kafka Connect unreachable at {self.url}: is it running (`shopstream stack status`) "
                f"and is SHOPSTREAM_CONNECT_URL right?"
            ) from exc
        if resp.status_code == 409:
            raise Rebalancing(f"{method} {path}: 409 {resp.text.strip()}")
        return resp

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        if not resp.ok:
            raise ConnectError(f"{method} {path}: {resp.status_code} {resp.text.strip()[:1000]}")
        return resp.json() if resp.content else None

    def connectors(self) -> list[str]:
        return sorted(self.json("GET", "/connectors"))

    def config(self, name: str) -> dict[str, str] | None:
        resp = self.request("GET", f"/connectors/{name}/config")
        if resp.status_code == 404:
            return None
        if not resp.ok:
            raise ConnectError(f"GET config of {name}: {resp.status_code} {resp.text.strip()}")
        result: dict[str, str] = resp.json()
        return result

    def status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json("GET", f"/connectors/{name}/status")
        return result

    def validate(self, spec: ConnectorSpec) -> list[str]:
        """Every field error Connect reports for the config (empty when valid)."""
        if not spec.connector_class:
            return ["connector.class: missing"]
        resp = self.request(
            "PUT", f"/connector-plugins/{spec.connector_class}/config/validate", json=spec.config
        )
        if resp.status_code in (400, 404, 500):
            return [f"connector.class: {spec.connector_class}: {resp.json().get('message', resp.text)}"]
        if not resp.ok:
            raise ConnectError(f"validate {spec.name}: {resp.status_code} {resp.text.strip()}")
        body = resp.json()
        errors = [
            f"{entry['value']['name']}: {message}"
            for entry in body["configs"]
            for message in entry["value"]["errors"]
        ]
        if body.get("error_count") and not errors:
            errors.append(f"{body['error_count']} error(s) without a field")
        return errors


def diff(desired: dict[str, str], current: dict[str, str] | None) -> dict[str, tuple[str | None, str | None]]:
    """key -> (current, desired) for every key that differs; empty when deploy would change nothing."""
    current = current or {}
    keys = set(desired) | set(current)
    return {k: (current.get(k), desired.get(k)) for k in sorted(keys) if current.get(k) != desired.get(k)}


def wait_running(client: ConnectClient, name: str, timeout_s: float = 120) -> dict[str, Any]:
    """Until the connector and all its tasks are RUNNING; a FAILED one raises with its trace."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = client.request("GET", f"/connectors/{name}/status")
        if resp.ok:
            last = resp.json()
            states = [last["connector"], *last.get("tasks", [])]
            failed = [s for s in states if s["state"] == "FAILED"]
            if failed:
                trace = "\n".join(s.get("trace", "(no trace)") for s in failed)
                raise ConnectError(f"{name} FAILED:\n{trace}")
            if last.get("tasks") and all(s["state"] == "RUNNING" for s in states):
                return last
        time.sleep(0.5)
    raise ConnectError(f"{name} not RUNNING after {timeout_s:.0f} s: {json.dumps(last)}")


def deploy(client: ConnectClient, specs: list[ConnectorSpec], timeout_s: float = 120) -> list[str]:
    """Validate all (failing before any change), then PUT each and wait for RUNNING; returns lines."""
    problems = {spec.name: client.validate(spec) for spec in specs}
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
