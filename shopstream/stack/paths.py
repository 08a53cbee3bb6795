"""Where the local stack keeps things: state (data, logs, configs) and the artefact cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shopstream.settings import Settings


@dataclass(frozen=True)
class StackPaths:
    state: Path
    cache: Path

    @classmethod
    def of(cls, settings: Settings) -> StackPaths:
        return cls(settings.stack.state_dir, settings.stack.cache_dir)

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def artifacts(self) -> Path:
        return self.cache / "artifacts"

    def service_dir(self, service: str) -> Path:
        """Config and data of one service; created on first use."""
        path = self.state / service
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"


def write_secret(path: Path, text: str) -> Path:
    """Write a file only its owner can read (mode 600 from its creation on, also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)
    return path
