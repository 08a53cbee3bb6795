"""The project's data files (Avro contracts, connector JSON, Maven poms, Grafana provisioning, the
Compose file), found in ONE place.

They are not Python: an installed package does not carry them. They are read from the project
directory: ``SHOPSTREAM_PROJECT_DIR`` when set, otherwise the checkout this package runs from. When
neither holds them, every caller gets the same error naming the file and the fix, rather than an
empty result.
"""

from __future__ import annotations

import os
from pathlib import Path

from shopstream.errors import ResourceMissing

PROJECT_DIR_ENV = "SHOPSTREAM_PROJECT_DIR"
_MARKER = Path("schemas") / "avro"  # what every command that reads data files needs


def find_project_dir() -> Path | None:
    """The project directory, or None when this package does not run from a checkout and
    ``SHOPSTREAM_PROJECT_DIR`` is not set (a plain install)."""
    configured = os.environ.get(PROJECT_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / _MARKER).is_dir() else None


def project_dir() -> Path:
    found = find_project_dir()
    if found is None:
        raise ResourceMissing(
            f"the project's data files (schemas/avro, connectors/, compose/, grafana/) are not next to "
            f"the installed package ({Path(__file__).resolve().parent})",
            f"run shopstream from a checkout of the project (pip install -e), or set {PROJECT_DIR_ENV} "
            f"to one",
        )
    return found


def project_file(*parts: str) -> Path:
    """A file or folder of the project directory; fails naming it when it is not there."""
    root = project_dir()
    path = root.joinpath(*parts)
    if not path.exists():
        source = f"{PROJECT_DIR_ENV}={root}" if os.environ.get(PROJECT_DIR_ENV) else f"the checkout {root}"
        raise ResourceMissing(
            f"{Path(*parts)} not found in {source}",
            f"run shopstream from a complete checkout of the project, or set {PROJECT_DIR_ENV} to one",
        )
    return path
