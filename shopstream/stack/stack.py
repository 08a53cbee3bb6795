"""The local stack as a whole: start in dependency order, health-check, stop, report."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from rich.console import Console

from shopstream.errors import PortInUse, ServiceUnhealthy, ShopstreamError, Timeout
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings
from shopstream.stack.restarts import LISTENER, LIVE_STATES, ProgramRecord
from shopstream.stack.services import (
    alertmanager,
    connect,
    exporter,
    influxdb,
    kafka,
    mariadb,
    prometheus,
    registry,
    spark_standalone,
)
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.supervisor import Supervisor

# Start order: the registry keeps its schemas in MariaDB; Connect needs Kafka and the registry; a
# Spark standalone cluster (a spark:// master on 127.0.0.1) comes last. Kafka, Connect and Spark run as
# many services as the settings say (one broker per bootstrap server, one worker per Connect URL).
SERVICE_BUILDERS: tuple[Callable[[StackContext], list[Service]], ...] = (
    lambda ctx: [mariadb.service(ctx)],
    lambda ctx: [influxdb.service(ctx)],
    kafka.services,
    lambda ctx: [registry.service(ctx)],
    connect.services,
    spark_standalone.services,
)
# the monitoring (SHOPSTREAM_MONITORING): Alertmanager before the Prometheus that sends to it
MONITORING_SERVICES = ("alertmanager", "prometheus", "exporter")
MONITORING_BUILDERS: tuple[Callable[[StackContext], list[Service]], ...] = (
    lambda ctx: [alertmanager.service(ctx)],
    lambda ctx: [prometheus.service(ctx)],
    lambda ctx: [exporter.service(ctx)],
)


def service_names(settings: Settings) -> list[str]:
    """The stack's services under ``settings``, in start order (without the monitoring's)."""
    ctx = StackContext(settings)
    return [svc.name for build in SERVICE_BUILDERS for svc in build(ctx)]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """'pid N (name)' of the process listening on the port, when the OS tells us."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def tree_rss(pid: int) -> int:
    """Resident memory of a process and its children, in bytes."""
    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.Error:
        return 0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    pid: int | None
    ports: list[int]
    healthy: bool
    version: str
    rss_bytes: int
    detail: str = ""
    record: ProgramRecord | None = None  # the supervisor's restart books of the service


class Stack:
    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.ctx = StackContext(settings)
        self.console = console or Console(stderr=True, soft_wrap=True)
        self.supervisor = Supervisor(self.ctx.paths)
        builders = SERVICE_BUILDERS + (MONITORING_BUILDERS if settings.monitoring.enabled else ())
        self.services = [svc for build in builders for svc in build(self.ctx)]

    def service(self, name: str) -> Service:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(f"unknown service {name!r}; services: {', '.join(s.name for s in self.services)}")

    # --- up --------------------------------------------------------------------------------------
    def up(self) -> None:
        """Start every service not yet running and healthy; idempotent."""
        started = time.monotonic()
        _ = self.ctx.artifacts  # downloads with progress on first use
        self._check_ports()
        stale = self.supervisor.ensure_running([svc.program() for svc in self.services])
        together: list[tuple[Service, float | None]] = []  # started, waited for with the next one
        for svc in self.services:
            if svc.name in stale:  # e.g. Connect after the sink connector was rebuilt
                with self.console.status(f"{svc.name}: configuration changed, restarting"):
                    self.supervisor.stop(svc.name)
                    self.supervisor.replace(svc.name)
                self.console.print(f"  {svc.name:<9} configuration changed: restarted with it")
            began = self._start(svc)
            if began is not None:
                self._wait(svc, svc.wait_probe())
            together.append((svc, began))
            if not svc.with_next:
                for member, member_began in together:
                    self._settle(member, member_began)
                together = []
        self.console.print(f"[green]stack up[/] in {time.monotonic() - started:.1f} s")

    def _check_ports(self) -> None:
        """Fail before starting anything if a port we need is held by a process we don't own."""
        for svc in self.services:
            if self._restarting(svc.name) or self.supervisor.state(svc.name) == "RUNNING":
                continue
            for port, setting in svc.ports.items():
                if port_open(port):
                    raise PortInUse(
                        f"port {port} needed by {svc.name} is in use by {port_owner(port)}",
                        f"stop that process, or move {svc.name} with {setting}",
                    )

    def _start(self, svc: Service) -> float | None:
        """Start the service unless it runs (None); when it started (monotonic)."""
        if self.supervisor.state(svc.name) == "RUNNING":
            return None
        began = time.monotonic()
        if not self._restarting(svc.name):  # else the supervisor is bringing it back: wait for it
            svc.prepare()
            self.supervisor.start(svc.name)
        return began

    def _settle(self, svc: Service, began: float | None) -> None:
        """Once it is ready: bootstrap it and report its version (it must answer its probe now)."""
        if began is None:
            svc.bootstrap()
            self.console.print(f"  {svc.name:<9} already running, version {svc.probe()}")
            return
        if svc.with_next:  # was waited for until ready to wait for the others: now it must answer
            self._wait(svc, svc.probe)
        svc.bootstrap()
        version = svc.probe()
        self.console.print(f"  {svc.name:<9} healthy in {time.monotonic() - began:5.1f} s, version {version}")

    def _restarting(self, name: str) -> bool:
        """Starting, retrying a start, or a crash being restarted by supervisord (not a restart the
        listener holds back: `stack up` starts that one now)."""
        state = self.supervisor.state(name)
        return state in LIVE_STATES or (state == "EXITED" and self.supervisor.failure(name) is None)

    def _wait(self, svc: Service, probe: Callable[[], str]) -> None:
        log = self.ctx.paths.log(svc.name)
        with self.console.status(f"waiting for {svc.name}") as status:

            def healthy() -> str:
                failure = self.supervisor.failure(svc.name)
                if failure is not None:
                    raise ServiceUnhealthy(
                        f"{svc.name} exited ({failure}). Last lines of {log}:\n" + self.tail(svc.name, 30)
                    )
                try:
                    return probe()
                except Exception as exc:  # any failure of the probe means "not yet"
                    status.update(f"waiting for {svc.name}: {type(exc).__name__}: {str(exc)[:100]}")
                    raise NotYet(f"{type(exc).__name__}: {exc}") from exc

            try:
                wait_until(healthy, self.ctx.settings.stack.timeout_s, f"{svc.name} healthy")
            except Timeout as exc:
                raise ServiceUnhealthy(
                    exc.message, f"see {log} (SHOPSTREAM_STACK_TIMEOUT_S waits longer)"
                ) from exc

    # --- down ------------------------------------------------------------------------------------
    def down(self, *, purge: bool = False) -> None:
        """Stop the processes this stack's supervisord started: first its jobs (Spark, producer,
        telemetry: cleanly, while the services they write to still answer), then the services in
        reverse start order; keep data unless purge."""
        if self.supervisor.is_running():
            services = {svc.name for svc in self.services}
            jobs = [  # running, or being brought back by the supervisor
                name
                for name in self.supervisor.programs()
                if name not in services and self.supervisor.failure(name) is None
            ]
            if jobs:
                with self.console.status(f"stopping {', '.join(jobs)}"):
                    self.supervisor.stop_all(jobs)
                self.console.print(f"  jobs      stopped: {', '.join(jobs)}")
            for svc in reversed(self.services):
                if self.supervisor.state(svc.name) == "RUNNING":
                    with self.console.status(f"stopping {svc.name}"):
                        self.supervisor.stop(svc.name)
                    self.console.print(f"  {svc.name:<9} stopped")
            self.supervisor.shutdown()
        if purge:
            for svc in self.services:
                shutil.rmtree(self.ctx.paths.state / svc.name, ignore_errors=True)
            shutil.rmtree(self.ctx.paths.logs, ignore_errors=True)
            self.console.print(f"  data purged from {self.ctx.paths.state}")

    # --- status / logs ---------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        rows = []
        for svc in self.services:
            state = self.supervisor.state(svc.name)
            pid = self.supervisor.pid(svc.name)
            try:
                version, healthy, detail = svc.probe(), True, ""
            except ShopstreamError as exc:  # names the address and the setting
                version, healthy, detail = "", False, str(exc)
            except Exception as exc:
                version, healthy, detail = "", False, f"{type(exc).__name__}: {exc}"[:120]
            rows.append(
                ServiceStatus(
                    svc.name,
                    state,
                    pid,
                    list(svc.ports),
                    healthy,
                    version,
                    tree_rss(pid) if pid else 0,
                    detail,
                    self.supervisor.record(svc.name),
                )
            )
        return rows

    def listener_state(self) -> str:
        """The supervision listener's state (RUNNING when restarts are counted and limited)."""
        return self.supervisor.state(LISTENER)

    def tail(self, name: str, lines: int) -> str:
        log = self.ctx.paths.log(self.service(name).name)
        if not log.exists():
            return f"(no log yet at {log})"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
