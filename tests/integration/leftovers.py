"""What an integration session leaves behind on the services, checked when the session ends.

Test resources are recognisable by their names: ``test.*`` topics (also a CDC connector's
``_schema-history.test.*``), Kafka ACLs on such names, registry subjects, ``test_*`` (or
``*_test_*``) InfluxDB databases, ``test*`` connectors and consumer groups (also Connect's
``connect-test*``), ``test-*`` programs of the stack's supervisor. At the end of a session every such
name that did not exist at its start must be gone again.

Others may run test sessions on the same stack at the same time (the stack is shared): their
resources would look like ours. Each session therefore writes a marker (``<state>/test-sessions``)
with its start and end; when another session overlapped this one, only names carrying one of this
session's tokens (``token()``: the random part of the names the shared fixtures make) are held
against it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shopstream.clients import kafka, kafka_acls
from shopstream.clients.connect import ConnectClient
from shopstream.clients.influx import InfluxClient
from shopstream.clients.registry import registry_client
from shopstream.errors import ShopstreamError
from shopstream.ops import scratch
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings
from shopstream.stack.paths import StackPaths
from shopstream.stack.supervisor import Supervisor

TOKENS: set[str] = set()
KEEP_MARKERS_S = 86_400


def token() -> str:
    """A random part for a test resource's name, remembered as this session's."""
    value = uuid.uuid4().hex[:8]
    TOKENS.add(value)
    return value


def is_test_name(kind: str, name: str) -> bool:
    if kind in ("topics", "subjects", "acls"):
        return name.removeprefix("_schema-history.").startswith("test.")
    if kind == "groups":
        return name.removeprefix("connect-").startswith("test")
    if kind == "connectors":
        return name.startswith("test")
    if kind == "databases":
        return name.startswith("test_") or "_test_" in name
    return name.startswith("test-")  # programs


def _influx_databases(settings: Settings) -> list[str]:
    client = InfluxClient(settings.influxdb, role="admin")
    try:
        return [str(row["name"]) for series in client.query("SHOW DATABASES") for row in series.rows]
    finally:
        client.close()


def resources_now(settings: Settings) -> dict[str, set[str]]:
    """kind -> the test-looking names on the services now (each service asked for up to 2 minutes:
    one may be restarting when the session ends)."""
    listers: dict[str, Callable[[], Iterable[str]]] = {
        "topics": lambda: kafka.check_reachable(settings.kafka).topics,
        "acls": lambda: kafka_acls.acl_names(settings),
        "subjects": registry_client(settings.registry, "admin").subjects,
        "groups": lambda: kafka.consumer_groups(settings.kafka),
        "connectors": ConnectClient(settings.connect, timeout_s=10).connectors,
        "databases": lambda: _influx_databases(settings),
        "programs": Supervisor(StackPaths.of(settings)).programs,
    }

    def listed(kind: str) -> set[str]:
        def attempt() -> set[str]:
            try:
                return {name for name in listers[kind]() if is_test_name(kind, name)}
            except (ShopstreamError, OSError) as exc:
                raise NotYet(str(exc)) from exc

        return wait_until(attempt, 120, f"list {kind}", every_s=2) or set()

    return {kind: listed(kind) for kind in listers}


@dataclass
class Session:
    """This session's marker and what looked like test resources when it started."""

    settings: Settings
    started: float = field(default_factory=time.time)
    before: dict[str, set[str]] = field(default_factory=dict)

    @property
    def markers(self) -> Path:
        return self.settings.stack.state_dir / "test-sessions"

    def begin(self) -> None:
        self.markers.mkdir(parents=True, exist_ok=True)
        for old in self.markers.glob("*.json"):  # markers of sessions long over
            if time.time() - old.stat().st_mtime > KEEP_MARKERS_S:
                old.unlink(missing_ok=True)
        self._write(None)
        self.before = resources_now(self.settings)

    def _write(self, ended: float | None) -> None:
        marker = self.markers / f"{os.getpid()}-{int(self.started)}.json"
        marker.write_text(json.dumps({"pid": os.getpid(), "started": self.started, "ended": ended}))

    def overlapped(self, ended: float) -> bool:
        """Did another session run on these services while this one did?"""
        for marker in self.markers.glob("*.json"):
            try:
                other = json.loads(marker.read_text())
            except (OSError, ValueError):
                continue
            if other["pid"] == os.getpid() and other["started"] == self.started:
                continue
            other_end = (
                other["ended"] if other["ended"] is not None else (ended if _alive(other["pid"]) else 0)
            )
            if other["started"] < ended and other_end > self.started:
                return True
        return False

    def end(self) -> dict[str, list[str]]:
        """What this session left behind. What carries one of its tokens is removed now, so that it
        does not pile up; the rest is only named (it might be another session's, in flight)."""
        now = time.time()
        self._write(now)
        shared = self.overlapped(now)
        left: dict[str, list[str]] = {}
        for kind, names in resources_now(self.settings).items():
            new = names - self.before.get(kind, set())
            if shared:
                new = {name for name in new if any(t in name for t in TOKENS)}
            if new:
                left[kind] = sorted(new)
        ours = {kind: [n for n in names if any(t in n for t in TOKENS)] for kind, names in left.items()}
        _remove(self.settings, {kind: names for kind, names in ours.items() if names})
        return left


def _remove(settings: Settings, left: dict[str, list[str]]) -> None:
    for program in left.get("programs", []):
        Supervisor(StackPaths.of(settings)).remove(program)
    kinds = [kind for kind in scratch.ALL_KINDS if kind in left]
    if kinds:
        names = [name for kind in kinds for name in left[kind]]
        scratch.remove(settings, names, kinds)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
