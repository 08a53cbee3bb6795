"""The one model of a connector file in ``connectors/``: ``{"name": ..., "config": {...}}``.

Values may hold ``${settings:FIELD}`` placeholders, resolved from the settings object (endpoints,
names; never a secret), and ``${env:NAME}`` references, left to the Connect worker's
``EnvVarConfigProvider``. Deploying (``ops/deploy.py``), the InfluxDB measurement contract
(``contracts.py``) and the benchmarks read connector files through this model only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from shopstream.errors import ConnectError
from shopstream.resources import project_file
from shopstream.settings import Settings

_PLACEHOLDER = re.compile(r"\$\{settings:([a-z_]+)\}")
_WHOLE_PLACEHOLDER = re.compile(r"^\$\{settings:([a-z_]+)\}$")


def connectors_dir() -> Path:
    """The project's ``connectors/`` folder: the desired state of the deployed connectors."""
    return project_file("connectors")


@dataclass(frozen=True)
class ConnectorFile:
    path: Path
    name: str
    config: dict[str, str]  # as written (placeholders unresolved)

    @classmethod
    def read(cls, path: str | Path) -> ConnectorFile:
        """A file by path, or by name under ``connectors/``; a malformed file fails naming it."""
        found = Path(path)
        if not found.is_absolute() and not found.exists():
            found = connectors_dir() / found
        return _read(found.resolve())

    @property
    def connector_class(self) -> str:
        return self.config.get("connector.class", "")

    def listed(self, key: str) -> tuple[str, ...]:
        """A comma-separated setting as its items (``tags.fields``, ``fields.exclude`` ...)."""
        return tuple(item.strip() for item in self.config.get(key, "").split(",") if item.strip())

    def setting_of(self, key: str) -> str | None:
        """The settings field a value is wholly taken from (``topic_enriched`` of
        ``${settings:topic_enriched}``); None for a literal or a missing key."""
        found = _WHOLE_PLACEHOLDER.match(self.config.get(key, ""))
        return found.group(1) if found else None

    def resolved(self, settings: Settings) -> dict[str, str]:
        """The config with every ``${settings:FIELD}`` replaced by the setting's value; an unknown
        field or a secret fails naming the file and the key."""
        return {
            key: resolve(value, settings, f"{self.path.name}: {key}") for key, value in self.config.items()
        }


def _read(path: Path) -> ConnectorFile:
    try:
        body = json.loads(path.read_text())
        name, config = body["name"], body["config"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConnectError(f"{path}: expected {{'name': ..., 'config': {{...}}}} ({exc})") from exc
    return ConnectorFile(path, str(name), {str(k): str(v) for k, v in config.items()})


def resolve(value: str, settings: Settings, where: str) -> str:
    """``value`` with its ``${settings:FIELD}`` placeholders replaced."""

    def lookup(match: re.Match[str]) -> str:
        field = match.group(1)
        try:
            found = settings.value_of(field)
        except KeyError:
            raise ConnectError(f"{where}: unknown placeholder ${{settings:{field}}}") from None
        if isinstance(found, SecretStr):
            raise ConnectError(
                f"{where}: ${{settings:{field}}} is a secret",
                "reference it as ${env:NAME}: the worker resolves it, so it never reaches Connect's "
                "config topic or its REST answers",
            )
        return str(found)

    return _PLACEHOLDER.sub(lookup, value)


def connector_files(directory: Path | None = None) -> list[ConnectorFile]:
    """Every ``*.json`` of the directory (default: the project's ``connectors/``), by file name."""
    return [ConnectorFile.read(path) for path in sorted((directory or connectors_dir()).glob("*.json"))]
