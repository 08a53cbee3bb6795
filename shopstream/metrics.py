"""Metrics endpoints of the pipeline's own processes, and how the local Prometheus finds them.

The producer, the telemetry sampler and the Spark drivers each serve Prometheus' text format on
127.0.0.1 (``serve``). Their ports are not fixed: a benchmark's producer runs beside `shopstream
run`'s, a trial's Spark UI sits beside the main job's. So each process registers itself: a file
``<state dir>/prometheus/targets/<job>-<name>.json`` in Prometheus' file service discovery format,
written when the endpoint is up and removed when the process ends cleanly (Prometheus reads the
folder's changes within seconds). A process that crashed leaves its file: its target goes down, which
is what the ``TargetDown`` alert is for. With ``SHOPSTREAM_MONITORING=false`` nothing is served or
registered.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from shopstream.settings import Settings


def targets_dir(settings: Settings) -> Path:
    """The folder the local Prometheus reads its file-discovered targets from."""
    return settings.stack.state_dir / "prometheus" / "targets"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def register_target(settings: Settings, job: str, name: str, port: int, labels: dict[str, str]) -> Path:
    """Write the target file of one endpoint on 127.0.0.1:``port`` (atomically: Prometheus never
    reads half a file); returns it."""
    folder = targets_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{_safe(job)}-{_safe(name)}.json"
    entry = [{"targets": [f"127.0.0.1:{port}"], "labels": {"job": job, **labels}}]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entry))
    tmp.replace(path)
    return path


@dataclass
class Endpoint:
    """A served metrics endpoint and its target file; ``close`` stops serving and unregisters it."""

    port: int
    target: Path | None
    _server: Any = None

    def close(self) -> None:
        unregister(self.target)
        self.target = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def serve(
    settings: Settings,
    registry: CollectorRegistry,
    port: int,
    job: str,
    name: str,
    labels: dict[str, str] | None = None,
) -> Endpoint | None:
    """Serve ``registry`` on ``SHOPSTREAM_METRICS_BIND_ADDRESS``:``port`` (loopback by default; a free
    port when that one is taken: a second producer or sampler) and register the target; None when
    monitoring is off."""
    if not settings.monitoring.enabled:
        return None
    try:
        server, _thread = start_http_server(
            port, addr=settings.monitoring.metrics_bind_address, registry=registry
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        server, _thread = start_http_server(
            0, addr=settings.monitoring.metrics_bind_address, registry=registry
        )
    bound = int(server.server_address[1])
    target = register_target(settings, job, name, bound, {"program": name, **(labels or {})})
    return Endpoint(bound, target, server)


def unregister(path: Path | None) -> None:
    """Remove a target file (a process ending cleanly)."""
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def unregister_program(settings: Settings, program: str) -> None:
    """Remove every target file of a supervisor program (its process may have died without doing it:
    a program taken out of the supervisor leaves no target behind)."""
    for path in targets_dir(settings).glob(f"*-{_safe(program)}.json"):
        unregister(path)
