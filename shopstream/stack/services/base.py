"""What every service of the local stack is: a supervised program plus its lifecycle hooks."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from shopstream.errors import MissingPrerequisite
from shopstream.settings import Settings
from shopstream.stack.artifacts import Artifacts, ensure_artifacts
from shopstream.stack.java import Jdk, find_jdk
from shopstream.stack.paths import StackPaths
from shopstream.stack.supervisor import Program


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Service:
    """One service: how to prepare, run, bootstrap and probe it.

    ``probe`` makes a real API call and returns the service's version; it raises when unhealthy.
    ``prepare`` (configs, data dir initialisation) and ``bootstrap`` (users, databases) are
    idempotent, so `stack up` can run them every time.
    """

    name: str
    ports: dict[int, str]  # port -> the setting that moves it
    program: Callable[[], Program]  # built at `up` only: it needs binaries and artefacts
    probe: Callable[[], str]
    prepare: Callable[[], None] = field(default=_nothing)
    bootstrap: Callable[[], object] = field(default=_nothing)
    # answers once the process serves requests, before bootstrap; defaults to ``probe``
    ready: Callable[[], str] | None = None
    # starts together with the next service, and is waited for after it (a quorum's members: none
    # answers before a majority runs)
    with_next: bool = False

    def wait_probe(self) -> Callable[[], str]:
        return self.ready or self.probe


class StackContext:
    """What services are built from; JDKs and artefacts are looked up only when a service asks."""

    def __init__(self, settings: Settings, paths: StackPaths | None = None) -> None:
        self.settings = settings
        self.paths = paths or StackPaths.of(settings)

    @cached_property
    def jdk(self) -> Jdk:
        return find_jdk(17, self.settings.stack.java_home, "SHOPSTREAM_JAVA_HOME")

    @cached_property
    def registry_jdk(self) -> Jdk:
        return find_jdk(21, self.settings.registry.java_home, "SHOPSTREAM_REGISTRY_JAVA_HOME", newest=True)

    @cached_property
    def artifacts(self) -> Artifacts:
        return ensure_artifacts(self.paths)


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        raise MissingPrerequisite(
            f"{name} not found", f"run scripts/setup.sh, or as root: apt-get install {package}"
        )
    return path
