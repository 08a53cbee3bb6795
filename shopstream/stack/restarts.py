"""Supervision of the stack's programs: the restart policy, its bookkeeping and the event listener.

Who does what:

* supervisord runs the programs and never restarts one by itself (``autorestart=false``,
  ``exitcodes=0``), except for a start that died before ``startsecs``: it has not started, and
  supervisord retries it ``startretries`` times, 1 s, 2 s, 3 s ... apart, then gives up (FATAL).
* This module's listener (``python -m shopstream.stack.restarts STATE_DIR``, an
  ``[eventlistener:supervision]`` of the same supervisord, subscribed to PROCESS_STATE and TICK_5)
  restarts every program that has a policy in the books (``RestartBook.set_policy``, done when the
  program is added) after a crash: a non-zero exit status or a signal after ``startsecs``. An exit
  with status 0 (``produce --duration``, ``spark run --duration``) is a finish, and a stop through
  supervisord (`stack down`, ``Job.stop``) ends STOPPED and is never restarted. The first restart
  within ``window_s`` is made at once; before each further one the program is held back (it stays
  EXITED, nothing is stopped) for ``backoff_s``, doubling up to ``backoff_max_s``, and started on the
  first TICK_5 event after the hold ends, whatever state it passed through meanwhile (a start is
  retried on every tick until the program is STOPPED or EXITED, or someone else started it). Past
  ``max_restarts`` restarts within ``window_s`` the next crash leaves it EXITED, marked "gave up"
  with the reason. The listener also counts restarts and records each exit (time, status or signal,
  how long the process ran). On each tick it checks that no supervised program sits EXITED after a
  crash with neither a restart under way nor a "gave up" mark (an event lost while the listener
  itself restarted): such a program is restarted like any crash.

So a program is always running, being restarted (``restart_in_s`` in the books, shown by `stack
status`), or marked "gave up" with why.

The books are one JSON file in the state dir (``supervision/restarts.json``), written under a file
lock by the listener and read by `stack status` / `pipeline status`. Counts are those of the
current run: a start by hand (`stack up`, ``Job.start``) resets them; the last exit is kept.

What supervisord does not tell: the signal that killed a process (its exit status is then -1) and
when the process was spawned. Both are in supervisord's own log (``spawned: 'x' with pid N``,
``exited: x (terminated by SIGKILL; not expected)``), which the listener reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

BOOK_FILE = "restarts.json"
LISTENER = "supervision"  # the event listener's name in supervisord
LIVE_STATES = frozenset({"STARTING", "RUNNING", "BACKOFF", "STOPPING"})


@dataclass(frozen=True)
class RestartPolicy:
    """How a program is brought back after a crash (see the module's docstring)."""

    startsecs: int = 5  # must stay up this long to count as started (JVMs: seconds)
    startretries: int = 3  # supervisord's retries of a start that died sooner (1 s, 2 s, 3 s apart)
    max_restarts: int = 5  # restarts within window_s; one more crash and the program is stopped
    window_s: float = 600.0
    backoff_s: float = 5.0  # before the second restart within the window; doubled for each further one
    backoff_max_s: float = 60.0

    def backoff(self, recent: int) -> float:
        """Seconds to wait before a restart when ``recent`` restarts happened within the window."""
        if recent <= 0:
            return 0.0
        return float(min(self.backoff_s * 2 ** (recent - 1), self.backoff_max_s))


class ExitRecord(BaseModel):
    """One exit of a program's process, as supervisord logged it."""

    at: float  # epoch seconds
    pid: int | None = None
    status: int | None = None  # exit status; None when a signal ended it
    signal: int | None = None
    ran_s: float | None = None  # from its spawn to its exit
    expected: bool = False  # supervisord's verdict: status in exitcodes, after startsecs

    @property
    def how(self) -> str:
        if self.signal is not None:
            with contextlib.suppress(ValueError):
                return signal.Signals(self.signal).name
            return f"signal {self.signal}"
        return "exit ?" if self.status is None else f"exit {self.status}"


class ProgramRecord(BaseModel):
    """The books of one program in the current run."""

    policy: RestartPolicy = RestartPolicy()
    restarts: int = 0  # restarts the supervisor made since the program was last started by hand
    restart_times: list[float] = []  # when each restart was decided (for the window)
    last_exit: ExitRecord | None = None
    gave_up: str | None = None  # why the supervisor stopped restarting it
    held_until: float | None = None  # a backoff: the listener starts the program again then
    listener_start: bool = False  # the next STARTING is the listener's own restart
    listener_stop: bool = False  # the next STOPPED is the listener's own stop

    def recent(self, now: float) -> int:
        return sum(1 for t in self.restart_times if now - t < self.policy.window_s)

    def restarts_text(self, now: float) -> str:
        """``0``; ``2``; ``3, gave up``; ``1, next in 8 s``."""
        text = str(self.restarts)
        if self.gave_up:
            return f"{text}, gave up"
        if self.held_until is not None:
            left = self.held_until - now
            return f"{text}, next in {left:.0f} s" if left >= 0.5 else f"{text}, restart due"
        return text

    def last_exit_text(self) -> str:
        """``SIGKILL 15:06:15, ran 5m03s``; ``exit 3 15:06:15, ran 1.5s``; ``-``."""
        e = self.last_exit
        if e is None:
            return "-"
        ran = f", ran {duration(e.ran_s)}" if e.ran_s is not None else ""
        return f"{e.how} {datetime.fromtimestamp(e.at).strftime('%H:%M:%S')}{ran}"

    def summary(self, now: float) -> dict[str, Any]:
        """What the status commands' JSON carries."""
        e = self.last_exit
        return {
            "restarts": self.restarts,
            "gave_up": self.gave_up,
            "restart_in_s": None if self.held_until is None else round(max(0.0, self.held_until - now), 1),
            "last_exit": None
            if e is None
            else {
                "at": datetime.fromtimestamp(e.at).astimezone().isoformat(timespec="seconds"),
                "status": e.status,
                "signal": e.signal,
                "how": e.how,
                "ran_s": None if e.ran_s is None else round(e.ran_s, 1),
                "expected": e.expected,
            },
        }


def duration(seconds: float) -> str:
    """``1.5s``, ``42s``, ``5m03s``, ``2h05m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class Book(BaseModel):
    programs: dict[str, ProgramRecord] = {}


class RestartBook:
    """The JSON file of records, changed only under an exclusive lock and replaced atomically."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "supervision"
        self.path = self.folder / BOOK_FILE

    def read(self) -> dict[str, ProgramRecord]:
        try:
            return Book.model_validate_json(self.path.read_text()).programs
        except (OSError, ValueError):
            return {}

    def get(self, name: str) -> ProgramRecord | None:
        return self.read().get(name)

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, ProgramRecord]]:
        """The records, to change in place; written back when the block ends without an error."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "restarts.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            programs = self.read()
            before = Book(programs=programs).model_dump_json()
            yield programs
            after = Book(programs=programs).model_dump_json(indent=1)
            if after != before:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(after)
                tmp.replace(self.path)

    def set_policy(self, name: str, policy: RestartPolicy) -> None:
        with self.edit() as programs:
            record = programs.setdefault(name, ProgramRecord(policy=policy))
            record.policy = policy

    def forget(self, name: str) -> None:
        with self.edit() as programs:
            programs.pop(name, None)

    def cancel_hold(self, name: str) -> None:
        """A stop by hand: a restart the listener was holding back is not made."""
        with self.edit() as programs:
            record = programs.get(name)
            if record is not None and record.held_until is not None:
                record.held_until = None
                record.listener_stop = False


# --- supervisord's log: spawn and exit lines ------------------------------------------------------
_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (?P<msg>.*)$")
_SIGNAL = re.compile(r"terminated by (SIG\w+|\d+)")
_STATUS = re.compile(r"exit status (-?\d+)")


def _epoch(ts: str) -> float:
    """supervisord's log time (local time, milliseconds after a comma) as epoch seconds."""
    return datetime.strptime(ts, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _tail(path: Path, max_bytes: int = 512 * 1024) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def parse_exit(lines: list[str], name: str, pid: int | None, expected: bool) -> ExitRecord | None:
    """The program's last exit in supervisord's log lines, with its spawn (matched by pid if known)."""
    exited = re.compile(rf"^exited: {re.escape(name)} \((?P<how>.*); (?:not )?expected\)$")
    spawned = re.compile(rf"^spawned: '{re.escape(name)}' with pid (?P<pid>\d+)$")
    exit_at: float | None = None
    how = ""
    for text in reversed(lines):
        line = _LINE.match(text)
        if line is None:
            continue
        if exit_at is None:
            found = exited.match(line["msg"])
            if found:
                exit_at, how = _epoch(line["ts"]), found["how"]
            continue
        found = spawned.match(line["msg"])
        if found and (pid is None or int(found["pid"]) == pid):
            return _exit_record(exit_at, how, int(found["pid"]), _epoch(line["ts"]), expected)
    if exit_at is None:
        return None
    return _exit_record(exit_at, how, pid, None, expected)


def _exit_record(at: float, how: str, pid: int | None, spawned: float | None, expected: bool) -> ExitRecord:
    sig = status = None
    if found := _SIGNAL.search(how):
        value = found.group(1)
        with contextlib.suppress(KeyError, ValueError):
            sig = int(value) if value.isdigit() else int(signal.Signals[value])
    elif found := _STATUS.search(how):
        status = int(found.group(1))
    ran = at - spawned if spawned is not None else None
    return ExitRecord(at=at, pid=pid, status=status, signal=sig, ran_s=ran, expected=expected)


# --- the listener -------------------------------------------------------------------------------
RESTARTABLE_STATES = frozenset({"EXITED", "STOPPED", "FATAL", "BACKOFF"})
LOST_EVENT_AFTER_S = 15.0  # an unexpected EXITED this old, with nothing under way: its event was lost


class Rpc(Protocol):
    """The part of supervisord's XML-RPC namespace ``supervisor`` the listener uses."""

    def getProcessInfo(self, name: str) -> dict[str, Any]: ...  # noqa: N802 (supervisord's name)
    def startProcess(self, name: str, wait: bool) -> bool: ...  # noqa: N802
    def stopProcess(self, name: str, wait: bool) -> bool: ...  # noqa: N802


@dataclass
class Listener:
    """Turns supervisord's events into the books and the restarts (at once, or after a hold)."""

    book: RestartBook
    rpc: Rpc
    supervisord_log: Path
    clock: Callable[[], float] = time.time
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))

    def handle(self, event: str, payload: Mapping[str, str]) -> None:
        if event == "TICK_5":
            self._tick()
            return
        name = payload.get("processname", "")
        if not event.startswith("PROCESS_STATE_") or not name or payload.get("groupname") == LISTENER:
            return
        state = event.removeprefix("PROCESS_STATE_")
        actions: list[tuple[str, str]] = []
        with self.book.edit() as programs:
            record = programs.get(name)
            if record is None:  # no restart policy (``restart=None``): not supervised
                return
            if state == "STARTING":
                self._starting(name, record, payload.get("from_state", ""))
            elif state == "EXITED":
                actions = self._exited(name, record, payload)
            elif state == "BACKOFF":
                actions = self._backoff(name, record, int(payload.get("tries", "0") or 0))
            elif state == "FATAL":
                self._fatal(name, record)
            elif state == "STOPPED":
                if record.listener_stop:
                    record.listener_stop = False
                else:  # stopped by hand: no restart is pending any more
                    record.held_until = None
        for action, target in actions:
            self._act(action, target)

    # --- events ----------------------------------------------------------------------------------
    def _starting(self, name: str, record: ProgramRecord, from_state: str) -> None:
        automatic = record.listener_start or from_state == "BACKOFF"
        record.listener_start = False
        if not automatic:  # started by hand: a new run, new counts
            record.restarts, record.restart_times = 0, []
            record.gave_up, record.held_until, record.listener_stop = None, None, False
            self.log(f"{name}: started by hand; restart counts reset")

    def _exited(self, name: str, record: ProgramRecord, payload: Mapping[str, str]) -> list[tuple[str, str]]:
        expected = payload.get("expected") == "1"
        pid = int(payload["pid"]) if payload.get("pid", "").isdigit() else None
        record.last_exit = self._exit(name, pid, expected)
        self.log(f"{name}: exited ({record.last_exit.how}{'' if expected else ', unexpected'})")
        if expected:
            return []
        return self._decide(name, record)

    def _backoff(self, name: str, record: ProgramRecord, tries: int) -> list[tuple[str, str]]:
        """Died before startsecs: supervisord retries by itself while tries <= startretries."""
        record.last_exit = self._exit(name, None, False)
        if tries > record.policy.startretries:
            return []  # FATAL follows
        self.log(f"{name}: exited {record.last_exit.how} while starting (try {tries})")
        return self._decide(name, record, supervisord_retries=True)

    def _fatal(self, name: str, record: ProgramRecord) -> None:
        record.held_until = None
        if record.last_exit is not None and record.last_exit.status == 0:
            return  # it finished before startsecs: nothing gave up
        tries = record.policy.startretries + 1
        record.gave_up = f"did not stay up {record.policy.startsecs} s in {tries} start(s)"
        self.log(f"{name}: FATAL, {record.gave_up}")

    def _decide(
        self, name: str, record: ProgramRecord, *, supervisord_retries: bool = False
    ) -> list[tuple[str, str]]:
        """After a crash: give up, restart now, or hold the restart back (the program stays down)."""
        now = self.clock()
        recent = record.recent(now)
        policy = record.policy
        record.restart_times = [t for t in record.restart_times if now - t < policy.window_s]
        if recent >= policy.max_restarts:
            minutes = policy.window_s / 60
            record.gave_up = f"{recent + 1} crashes within {minutes:g} min"
            record.held_until = None
            self.log(f"{name}: {record.gave_up}: not restarted again")
            if supervisord_retries:  # stop supervisord's own start retries
                record.listener_stop = True
                return [("stop", name)]
            return []
        record.restart_times.append(now)
        if supervisord_retries:
            record.restarts += 1  # supervisord retries the start by itself, at once
            return []
        delay = policy.backoff(recent)
        if delay <= 0:
            record.restarts += 1
            record.listener_start = True
            return [("start", name)]
        record.held_until = now + delay
        self.log(f"{name}: restart {recent + 1} within {policy.window_s / 60:g} min: held back {delay:g} s")
        return []

    def _tick(self) -> None:
        now = self.clock()
        due: list[str] = []
        with self.book.edit() as programs:
            for name, record in programs.items():
                if record.gave_up is not None:
                    continue
                info = self._info(name)
                if info is None:  # removed from supervisord meanwhile
                    record.held_until, record.listener_start = None, False
                    continue
                state = str(info["statename"])
                if record.held_until is None:
                    if self._lost_crash(record, info, now):
                        self.log(f"{name}: EXITED after a crash with no restart under way: restarting it")
                        actions = self._decide(name, record)
                        due.extend(target for action, target in actions if action == "start")
                    continue
                if record.held_until > now:
                    continue
                if state in ("RUNNING", "STARTING"):  # started by someone else meanwhile
                    record.held_until = None
                elif state in RESTARTABLE_STATES:
                    record.held_until = None
                    record.listener_start = True
                    record.restarts += 1
                    due.append(name)
                # STOPPING (or any other passing state): the hold stays; retried at the next tick
        for name in due:
            self.log(f"{name}: restarting it")
            self._act("start", name)

    @staticmethod
    def _lost_crash(record: ProgramRecord, info: Mapping[str, Any], now: float) -> bool:
        """EXITED after a crash long enough ago that its event must have been handled, yet no restart
        is under way and nothing gave up: the listener missed the event (it was restarting)."""
        if info.get("statename") != "EXITED" or int(info.get("exitstatus", 0)) == 0:
            return False
        if record.listener_start:
            return False
        stopped_at = float(info.get("stop", 0) or 0)
        return stopped_at > 0 and now - stopped_at >= LOST_EVENT_AFTER_S

    # --- supervisord -----------------------------------------------------------------------------
    def _exit(self, name: str, pid: int | None, expected: bool) -> ExitRecord:
        found = parse_exit(_tail(self.supervisord_log), name, pid, expected)
        if found is not None:
            return found
        status = None
        with contextlib.suppress(Exception):
            status = int(self.rpc.getProcessInfo(name)["exitstatus"])
        return ExitRecord(at=self.clock(), pid=pid, status=status, expected=expected)

    def _info(self, name: str) -> Mapping[str, Any] | None:
        try:
            return self.rpc.getProcessInfo(name)
        except xmlrpc.client.Fault:
            return None  # removed meanwhile

    def _act(self, action: str, name: str) -> None:
        try:
            if action == "stop":
                self.rpc.stopProcess(name, False)
            else:
                self.rpc.startProcess(name, False)
        except xmlrpc.client.Fault as fault:  # already stopped/started, or removed: nothing to do
            self.log(f"{name}: {action} refused: {fault.faultString}")
            with self.book.edit() as programs:
                if name in programs:
                    if action == "stop":
                        programs[name].listener_stop = False
                    else:
                        programs[name].listener_start = False


def main(argv: list[str] | None = None) -> None:
    """The event listener loop: supervisord's protocol on stdin/stdout, diagnostics on stderr."""
    from supervisor import childutils

    args = sys.argv[1:] if argv is None else argv
    state_dir = Path(args[0]) if args else Path.cwd()
    rpc = childutils.getRPCInterface(os.environ).supervisor
    listener = Listener(RestartBook(state_dir), rpc, state_dir / "logs" / "supervisord.log")
    listener.log(f"supervision listener up (pid {os.getpid()}), books in {listener.book.path}")
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            body = childutils.get_headers(payload.split("\n", 1)[0]) if payload.strip() else {}
            listener.handle(headers["eventname"], body)
        except Exception as exc:  # the books must never stop the listener: log and go on
            listener.log(f"error handling {headers.get('eventname')}: {type(exc).__name__}: {exc}")
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
