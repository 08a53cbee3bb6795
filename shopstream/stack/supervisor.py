"""Process supervision through supervisord (a well-kept supervisor, not a home-made one).

`stack up` writes ``supervisord.conf`` into the state dir, starts one supervisord daemon bound to a
unix socket there, and starts programs through its XML-RPC API. Processes therefore outlive the
command that started them, and `down` stops exactly the processes this supervisord owns.

The same supervisord runs the pipeline's own long-running programs (the Spark applications, the
producer): ``add`` writes one program file under ``programs/`` (included by the main config) and
adds its group after a config reread; ``remove`` takes it away again. One way to start, stop,
restart and log a process.

Supervision (``shopstream.stack.restarts``): supervisord never restarts a program by itself
(``autorestart=false``, ``exitcodes=0``; ``startsecs`` and ``startretries`` from its policy, for
starts that die at once); the ``supervision`` event listener, part of the same config, restarts every
program with a restart policy after a crash, counts the restarts, records the last exit and enforces
the policy's backoff and limit.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from shopstream.errors import StackError
from shopstream.retry import wait_until
from shopstream.stack.paths import StackPaths, write_secret
from shopstream.stack.restarts import LISTENER, LIVE_STATES, ProgramRecord, RestartBook, RestartPolicy


@dataclass(frozen=True)
class Program:
    """One long-running process of the stack."""

    name: str
    command: Sequence[str]
    environment: Mapping[str, str] = field(default_factory=dict)
    directory: Path | None = None
    stop_wait_s: int = 60
    log: Path | None = None  # default: <state>/logs/<name>.log
    # the stop signal to the whole process group, or to the program alone (which then stops its
    # children itself, as the Spark driver stops its JVM); the final SIGKILL always takes the group
    stop_as_group: bool = True
    # restarted after a crash under this policy; None: never restarted (a crash leaves it EXITED)
    restart: RestartPolicy | None = field(default_factory=RestartPolicy)


SHUTDOWN_TIMEOUT_S = 150  # the longest stop wait of a program (jobs: 90 s) and a margin


def _escape(value: str) -> str:
    """supervisord's config is an INI file with %(...)s interpolation."""
    return value.replace("%", "%%")


def render_program(paths: StackPaths, program: Program) -> list[str]:
    broken = [arg for arg in program.command if "\n" in arg] + [
        key for key, value in program.environment.items() if "\n" in value
    ]
    if broken:  # supervisord's INI config cannot hold it: every later reload of the stack would fail
        raise StackError(
            f"program {program.name}: a line break in {broken[0][:60]!r}",
            "pass a multi-line script as a file, not as an argument or an environment value",
        )
    env = ",".join(f'{key}="{value}"' for key, value in program.environment.items())
    policy = program.restart
    lines = [
        f"[program:{program.name}]",
        f"command={_escape(shlex.join(program.command))}",
        "autostart=false",
        # the supervision listener restarts a crash (non-zero status, a signal) of a program with a
        # policy, at once or after a hold; exit 0 is a finish; a stop is a stop
        "autorestart=false",
        "exitcodes=0",
        f"startsecs={policy.startsecs if policy else 1}",
        f"startretries={policy.startretries if policy else 0}",
        "stopsignal=TERM",
        f"stopwaitsecs={program.stop_wait_s}",
        f"stopasgroup={str(program.stop_as_group).lower()}",
        "killasgroup=true",
        "redirect_stderr=true",
        f"stdout_logfile={program.log or paths.log(program.name)}",
        "stdout_logfile_maxbytes=50MB",
        "stdout_logfile_backups=2",
    ]
    if env:
        lines.append(f"environment={_escape(env)}")
    if program.directory is not None:
        lines.append(f"directory={program.directory}")
    return lines


def programs_dir(paths: StackPaths) -> Path:
    """Where ``add`` writes the files of programs that are not stack services."""
    return paths.state / "programs"


def render_listener(paths: StackPaths) -> list[str]:
    """The supervision event listener (shopstream.stack.restarts): supervisord's PROCESS_STATE events
    and its 5-second ticks in, the restart books and the limits' stops and starts out."""
    command = [sys.executable, "-m", "shopstream.stack.restarts", str(paths.state)]
    return [
        f"[eventlistener:{LISTENER}]",
        f"command={_escape(shlex.join(command))}",
        "events=PROCESS_STATE,TICK_5",
        "buffer_size=1024",
        "autostart=true",
        "autorestart=true",
        "startsecs=1",
        "startretries=10",
        "stopsignal=TERM",
        "stopwaitsecs=10",
        f"stderr_logfile={paths.log(LISTENER)}",
        "stderr_logfile_maxbytes=10MB",
        "stderr_logfile_backups=1",
    ]


def render_config(paths: StackPaths, programs: Sequence[Program]) -> str:
    sock = paths.state / "supervisor.sock"
    lines = [
        "; written by `shopstream stack up`; edits are overwritten",
        "[unix_http_server]",
        f"file={sock}",
        "chmod=0700",
        "[supervisord]",
        f"logfile={paths.logs / 'supervisord.log'}",
        f"pidfile={paths.state / 'supervisord.pid'}",
        f"childlogdir={paths.logs}",
        "logfile_maxbytes=10MB",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{sock}",
        "[include]",
        f"files={programs_dir(paths)}/*.conf",
        *render_listener(paths),
    ]
    for program in programs:
        lines += render_program(paths, program)
    return "\n".join(lines) + "\n"


class Supervisor:
    """A handle on the stack's supervisord, started on demand."""

    def __init__(self, paths: StackPaths) -> None:
        self.paths = paths
        self.config = paths.state / "supervisord.conf"
        self.socket = paths.state / "supervisor.sock"
        self.book = RestartBook(paths.state)

    @property
    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            return cast(str, self._rpc.getState()["statename"]) == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def ensure_running(self, programs: Sequence[Program]) -> list[str]:
        """Write the config; start supervisord, or make a running one pick up new programs. Returns
        the running programs whose configuration changed: they keep the old one until restarted."""
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        self.paths.state.chmod(0o700)  # configs, data and logs of the stack: its owner's only
        for program in programs:
            self._register(program)
        write_secret(self.config, render_config(self.paths, programs))  # programs' environments
        if self.is_running():
            return self._reload()
        # a supervisord still stopping its programs (its socket already gone) removes the socket
        # and pid file of any new one when it exits: wait for it first
        self._wait_exited(self._pid())
        self.socket.unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(self.config)], check=True)
        log = self.paths.logs / "supervisord.log"
        wait_until(self.is_running, 15, "supervisord up", every_s=0.1, hint=f"see {log}")
        return []

    def _reload(self) -> list[str]:
        """Apply config changes to programs that are not running; return the running ones changed."""
        [[added, changed, removed]] = self._rpc.reloadConfig()
        for name in removed:
            self._rpc.stopProcessGroup(name)
            self._rpc.removeProcessGroup(name)
        stale = []
        for name in changed:
            if name == LISTENER:  # it keeps its books in a file: restart it with its new config
                self._rpc.stopProcessGroup(name)
                self.replace(name)
            elif self.state(name) in ("RUNNING", "STARTING"):
                stale.append(name)
            else:
                self.replace(name)
        for name in added:
            self._rpc.addProcessGroup(name)
        return stale

    def replace(self, name: str) -> None:
        """Make a stopped program take its new configuration."""
        self._rpc.removeProcessGroup(name)
        self._rpc.addProcessGroup(name)

    def add(self, program: Program) -> None:
        """Make ``program`` one of supervisord's programs (replacing a stopped one of that name)."""
        if not self.is_running():
            raise StackError("the stack's supervisord is not running", "run `shopstream stack up`")
        folder = programs_dir(self.paths)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{program.name}.conf"
        write_secret(path, "\n".join(render_program(self.paths, program)) + "\n")  # env: passwords
        self._register(program)
        [[added, changed, _]] = self._rpc.reloadConfig()
        if program.name in changed:
            if self.state(program.name) in ("RUNNING", "STARTING", "STOPPING"):
                raise StackError(f"{program.name} is running", "stop it before changing it")
            self._rpc.removeProcessGroup(program.name)
            self._rpc.addProcessGroup(program.name)
        elif program.name in added:
            self._rpc.addProcessGroup(program.name)
        elif self.state(program.name) == "UNKNOWN":
            raise StackError(
                f"supervisord does not read {folder} (its config predates program files)",
                "run `shopstream stack up` once: it rewrites the config and keeps running services",
            )

    def _register(self, program: Program) -> None:
        """The program's policy in the books, where the supervision listener reads it."""
        if program.restart is None:
            self.book.forget(program.name)
        else:
            self.book.set_policy(program.name, program.restart)

    def remove(self, name: str) -> None:
        """Stop the program and take it out of supervisord (its log stays)."""
        if self.state(name) in ("RUNNING", "STARTING", "BACKOFF"):
            self.stop(name)
        with contextlib.suppress(xmlrpc.client.Fault):
            self._rpc.removeProcessGroup(name)
        (programs_dir(self.paths) / f"{name}.conf").unlink(missing_ok=True)
        self.book.forget(name)

    def record(self, name: str) -> ProgramRecord | None:
        """The program's restart books (restarts, last exit, given up), if it has a policy."""
        return self.book.get(name)

    def programs(self) -> list[str]:
        """Every program supervisord runs, the supervision listener left out."""
        if not self.is_running():
            return []
        infos = cast(list[dict[str, Any]], self._rpc.getAllProcessInfo())
        return [info["name"] for info in infos if info["group"] != LISTENER]

    def failure(self, name: str) -> str | None:
        """Why the program is down for good (its state, and why the supervisor gave up), or None
        while it runs or the supervisor is bringing it back (starting, retrying, a restart held
        back, a crash being restarted)."""
        if not self.is_running():
            return "NOT_RUNNING"
        try:
            info = self.info(name)
        except xmlrpc.client.Fault:
            return "UNKNOWN"
        state = str(info["statename"])
        if state in LIVE_STATES:
            return None
        record = self.record(name)
        if record is not None and record.held_until is not None and not record.gave_up:
            return None  # stopped for a backoff: the listener starts it again
        if state == "EXITED" and record is not None and int(info["exitstatus"]) != 0 and not record.gave_up:
            return None  # a crash: the supervision listener is restarting it
        if record is not None and record.gave_up:
            return f"{state}: the supervisor gave up ({record.gave_up})"
        return state

    def info(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._rpc.getProcessInfo(name))

    def state(self, name: str) -> str:
        """supervisord's state name (RUNNING, STOPPED, EXITED, FATAL, ...); NOT_RUNNING without it."""
        if not self.is_running():
            return "NOT_RUNNING"
        try:
            return cast(str, self.info(name)["statename"])
        except xmlrpc.client.Fault:
            return "UNKNOWN"

    def pid(self, name: str) -> int | None:
        if self.state(name) != "RUNNING":
            return None
        return cast(int, self.info(name)["pid"]) or None

    def start(self, name: str) -> None:
        try:
            self._rpc.startProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise StackError(
                    f"{name} failed to start ({fault.faultString})", f"see {self.paths.log(name)}"
                ) from fault

    def stop(self, name: str, wait: bool = True) -> None:
        """A clean stop (never restarted); a restart held back by the supervisor is cancelled."""
        self.book.cancel_hold(name)
        try:
            self._rpc.stopProcess(name, wait)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise

    def stop_all(self, names: Sequence[str]) -> None:
        """Clean stops of several programs at once (each within its own stop wait, in parallel);
        returns when none of them is left running."""
        for name in names:
            self.stop(name, wait=False)
        wait_until(
            lambda: not [name for name in names if self.state(name) in LIVE_STATES],
            SHUTDOWN_TIMEOUT_S,
            f"{', '.join(names)} stopped",
            every_s=0.2,
            hint=f"see {self.paths.logs / 'supervisord.log'}",
        )

    def shutdown(self) -> None:
        """Stop every program (each within its stop wait) and supervisord; returns once it exited."""
        if not self.is_running():
            return
        pid = self._pid()
        self._rpc.shutdown()
        self._wait_exited(pid)

    def _pid(self) -> int | None:
        pid_file = self.paths.state / "supervisord.pid"
        try:
            return int(pid_file.read_text())
        except (OSError, ValueError):
            return None

    def _wait_exited(self, pid: int | None) -> None:
        """Until the supervisord of ``pid`` has exited: it stops its programs in parallel, each
        within its stop wait (at most SHUTDOWN_TIMEOUT_S)."""
        if pid is None or not _alive(pid):
            return
        wait_until(
            lambda: not _alive(pid),
            SHUTDOWN_TIMEOUT_S,
            f"supervisord (pid {pid}) stopped its programs and exited",
            every_s=0.2,
            hint=f"see {self.paths.logs / 'supervisord.log'}",
        )


def _alive(pid: int) -> bool:
    """A live supervisord of that pid (a reused pid running something else is not one)."""
    try:
        import psutil

        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "supervisord" in " ".join(process.cmdline())
    except Exception:
        return False
