"""The supervision listener's books, decisions and rendering, fed supervisord's own event payloads
(no supervisord: a recording stand-in answers the few XML-RPC calls the listener makes)."""

from __future__ import annotations

import re
import signal
import xmlrpc.client
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shopstream.errors import StackError
from shopstream.stack.paths import StackPaths
from shopstream.stack.restarts import (
    ExitRecord,
    Listener,
    ProgramRecord,
    RestartBook,
    RestartPolicy,
    duration,
    parse_exit,
)
from shopstream.stack.supervisor import Program, render_config, render_program

T0 = datetime(2026, 12, 1, 15, 0, 0).timestamp()


def _log_time(at: float) -> str:
    stamp = datetime.fromtimestamp(at)
    return stamp.strftime("%Y-%m-%d %H:%M:%S,") + f"{stamp.microsecond // 1000:03d}"


class Supervisord:
    """What the listener asks supervisord: program states; what it tells it: stops and starts."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.stopped_at: dict[str, float] = {}
        self.calls: list[tuple[str, str]] = []

    def getProcessInfo(self, name: str) -> dict[str, Any]:  # noqa: N802 (supervisord's name)
        if name not in self.states:
            raise xmlrpc.client.Fault(10, f"BAD_NAME: {name}")
        return {"statename": self.states[name], "exitstatus": 3, "stop": self.stopped_at.get(name, 0)}

    def startProcess(self, name: str, wait: bool) -> bool:  # noqa: N802
        self.calls.append(("start", name))
        return True

    def stopProcess(self, name: str, wait: bool) -> bool:  # noqa: N802
        self.calls.append(("stop", name))
        return True


class World:
    """A listener over a books file and a supervisord log in tmp_path, on a clock the test moves."""

    def __init__(self, tmp_path: Path) -> None:
        self.now = T0
        self.log = tmp_path / "supervisord.log"
        self.log.write_text("")
        self.supervisord = Supervisord()
        self.book = RestartBook(tmp_path)
        self.listener = Listener(self.book, self.supervisord, self.log, clock=lambda: self.now, log=print)
        self.pid = 100

    def record(self, name: str = "app") -> ProgramRecord:
        found = self.book.get(name)
        assert found is not None
        return found

    def event(self, state: str, name: str = "app", **payload: str) -> None:
        self.listener.handle(f"PROCESS_STATE_{state}", {"processname": name, "groupname": name, **payload})

    def spawn(self, name: str = "app", from_state: str = "STOPPED") -> None:
        self.pid += 1
        self._line(f"INFO spawned: '{name}' with pid {self.pid}")
        self.supervisord.states[name] = "STARTING"
        self.event("STARTING", name, from_state=from_state, tries="0")
        self.supervisord.states[name] = "RUNNING"

    def crash(self, name: str = "app", how: str = "exit status 3", after_s: float = 30) -> None:
        """The process ran ``after_s`` and died; supervisord logs it and leaves it EXITED; when the
        listener asks for a start at once, supervisord spawns it."""
        self.now += after_s
        self._line(f"WARN exited: {name} ({how}; not expected)")
        self.supervisord.states[name] = "EXITED"
        self.supervisord.stopped_at[name] = self.now
        calls = len(self.supervisord.calls)
        self.event("EXITED", name, from_state="RUNNING", expected="0", pid=str(self.pid))
        self.follow(name, calls, from_state="EXITED")

    def tick(self, after_s: float, name: str = "app") -> None:
        self.now += after_s
        calls = len(self.supervisord.calls)
        self.listener.handle("TICK_5", {"when": str(int(self.now))})
        self.follow(name, calls, from_state=self.supervisord.states.get(name, "STOPPED"))

    def follow(self, name: str, calls: int, from_state: str) -> None:
        """supervisord carries out a start the listener asked for since ``calls``."""
        if ("start", name) in self.supervisord.calls[calls:]:
            self.spawn(name, from_state=from_state)

    def _line(self, message: str) -> None:
        with self.log.open("a") as handle:
            handle.write(f"{_log_time(self.now)} {message}\n")


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.book.set_policy("app", RestartPolicy(max_restarts=3, window_s=600, backoff_s=5, backoff_max_s=60))
    w.spawn()  # `stack up` / Job.start: by hand
    return w


def test_backoff_doubles_from_the_second_restart_and_is_capped() -> None:
    policy = RestartPolicy(backoff_s=5, backoff_max_s=30)
    assert [policy.backoff(n) for n in range(6)] == [0, 5, 10, 20, 30, 30]


def test_a_crash_is_restarted_at_once_and_recorded_with_its_signal_and_run_time(world: World) -> None:
    world.crash(how="terminated by SIGKILL", after_s=125.5)
    record = world.record()
    assert record.restarts == 1 and record.gave_up is None and record.held_until is None
    assert world.supervisord.calls == [("start", "app")]  # the listener's restart, at once
    assert world.supervisord.states["app"] == "RUNNING"
    assert record.last_exit is not None
    assert (record.last_exit.signal, record.last_exit.status) == (signal.SIGKILL, None)
    assert record.last_exit.ran_s == pytest.approx(125.5, abs=0.01)
    assert record.last_exit.pid == 101 and not record.last_exit.expected
    assert record.restarts_text(world.now) == "1"
    assert record.last_exit_text() == f"SIGKILL {datetime.fromtimestamp(world.now):%H:%M:%S}, ran 2m06s"


def test_repeated_crashes_are_held_back_then_given_up(world: World) -> None:
    world.crash()  # restart 1: immediate
    world.crash()  # restart 2: held back 5 s; the program stays EXITED, nothing is stopped
    record = world.record()
    assert world.supervisord.calls == [("start", "app")]
    assert world.supervisord.states["app"] == "EXITED"
    assert record.held_until == pytest.approx(world.now + 5) and record.restarts == 1
    assert record.restarts_text(world.now) == "1, next in 5 s"

    world.tick(3)
    assert world.supervisord.calls == [("start", "app")]  # not due yet
    world.tick(3)
    assert world.supervisord.calls == [("start", "app")] * 2
    assert world.supervisord.states["app"] == "RUNNING"  # the listener's start: not by hand, counts stay
    assert world.record().restarts == 2 and world.record().held_until is None

    world.crash()  # restart 3: held back 10 s
    assert world.record().held_until == pytest.approx(world.now + 10)
    world.tick(10)
    assert world.supervisord.states["app"] == "RUNNING"
    assert world.record().restarts == 3

    world.crash()  # the fourth crash within 10 minutes: left down for good, with the reason
    record = world.record()
    assert world.supervisord.calls == [("start", "app")] * 3 and world.supervisord.states["app"] == "EXITED"
    assert record.gave_up == "4 crashes within 10 min" and record.restarts == 3
    assert record.restarts_text(world.now) == "3, gave up"
    summary = record.summary(world.now)
    assert summary["restarts"] == 3 and summary["gave_up"] == "4 crashes within 10 min"
    assert summary["last_exit"]["status"] == 3 and summary["last_exit"]["how"] == "exit 3"
    world.tick(120)  # given up: never restarted, not even as a "lost" crash
    assert world.supervisord.calls == [("start", "app")] * 3


def test_a_held_restart_due_while_the_program_is_stopping_is_made_once_it_stopped(world: World) -> None:
    """The broker case: the hold came due while a stop was still under way (a JVM taking its
    stop wait). The hold must survive such ticks and the start be made when the stop is over."""
    world.crash()
    world.crash()  # held back 5 s
    world.supervisord.states["app"] = "STOPPING"  # e.g. a slow stop of the process group
    world.tick(5)
    world.tick(5)
    world.tick(30)
    assert world.supervisord.calls == [("start", "app")]  # not started over a stopping process
    assert world.record().held_until is not None
    assert world.record().restarts_text(world.now) == "1, restart due"
    world.supervisord.states["app"] = "EXITED"  # the stop wait ran out: SIGKILL, EXITED
    world.tick(5)
    assert world.supervisord.calls == [("start", "app")] * 2
    assert world.supervisord.states["app"] == "RUNNING" and world.record().restarts == 2


def test_two_kills_a_minute_apart_leave_the_program_running(world: World) -> None:
    world.crash(how="terminated by SIGKILL", after_s=120)
    world.crash(how="terminated by SIGKILL", after_s=60)
    for _ in range(3):
        world.tick(5)
    assert world.supervisord.states["app"] == "RUNNING"
    record = world.record()
    assert record.restarts == 2 and record.held_until is None and record.gave_up is None


def test_a_crash_whose_event_was_lost_is_restarted_on_a_tick(world: World) -> None:
    """The listener missed the EXITED event (it was itself restarting): a tick finds the program
    EXITED after a crash with nothing under way, and restarts it like any crash."""
    world.now += 30
    world._line("WARN exited: app (terminated by SIGKILL; not expected)")
    world.supervisord.states["app"] = "EXITED"
    world.supervisord.stopped_at["app"] = world.now
    world.tick(5)  # too recent: its event may still be on its way
    assert world.supervisord.calls == []
    world.tick(15)
    assert world.supervisord.calls == [("start", "app")]
    assert world.supervisord.states["app"] == "RUNNING" and world.record().restarts == 1


def test_crashes_outside_the_window_do_not_count(world: World) -> None:
    world.crash()
    world.crash(after_s=601)  # the first restart is out of the window: immediate again
    assert world.supervisord.calls == [("start", "app")] * 2 and world.record().restarts == 2


def test_a_start_by_hand_resets_the_counts_and_keeps_the_last_exit(world: World) -> None:
    world.crash()
    world.crash()
    world.spawn(from_state="EXITED")  # `stack up` while the restart is held back
    record = world.record()
    assert (record.restarts, record.restart_times, record.held_until) == (0, [], None)
    assert record.last_exit is not None and record.last_exit.status == 3
    world.tick(60)
    assert world.supervisord.calls == [("start", "app")]  # the hold went with the start by hand


def test_a_stop_by_hand_cancels_a_held_restart(world: World) -> None:
    world.crash()
    world.crash()
    world.book.cancel_hold("app")  # Supervisor.stop of a program held back
    world.supervisord.states["app"] = "STOPPED"
    world.tick(60)
    assert world.supervisord.calls == [("start", "app")]  # no second start
    assert world.record().restarts_text(world.now) == "1"


def test_an_exit_with_status_0_is_a_finish_and_a_stop_is_a_stop(world: World) -> None:
    world.now += 5
    world._line("INFO exited: app (exit status 0; expected)")
    world.event("EXITED", expected="1", pid=str(world.pid))
    world.supervisord.states["app"] = "EXITED"
    record = world.record()
    assert record.restarts == 0 and record.last_exit is not None and record.last_exit.expected
    world.spawn(from_state="EXITED")  # started again by hand after a finish
    world.event("STOPPING", from_state="RUNNING")
    world.supervisord.states["app"] = "STOPPED"
    world.event("STOPPED", from_state="STOPPING")
    world.tick(60)
    assert world.record().restarts == 0 and world.supervisord.calls == []


def test_start_failures_are_supervisords_retries_then_its_fatal(world: World) -> None:
    for tries in (1, 2, 3, 4):  # startretries=3: three retries, then FATAL
        world.now += 1
        world._line("WARN exited: app (exit status 1; not expected)")
        world.event("BACKOFF", from_state="STARTING", tries=str(tries))
        if tries <= 3:
            world.spawn(from_state="BACKOFF")
    world.supervisord.states["app"] = "FATAL"
    world.event("FATAL", from_state="BACKOFF")
    record = world.record()
    assert record.restarts == 3 and world.supervisord.calls == []
    assert record.gave_up == "did not stay up 5 s in 4 start(s)"
    world.tick(60)
    assert world.supervisord.calls == []


def test_a_finish_before_startsecs_is_no_failure(world: World) -> None:
    world.book.set_policy("app", RestartPolicy(startretries=0))
    world._line("WARN exited: app (exit status 0; not expected)")
    world.event("BACKOFF", from_state="STARTING", tries="1")
    world.event("FATAL", from_state="BACKOFF")
    assert world.record().gave_up is None


def test_the_listeners_own_events_unsupervised_and_removed_programs_are_ignored(world: World) -> None:
    world.listener.handle("PROCESS_STATE_RUNNING", {"processname": "supervision", "groupname": "supervision"})
    assert "supervision" not in world.book.read()
    world.supervisord.states["once"] = "EXITED"  # a program without a restart policy
    world.event("EXITED", "once", from_state="RUNNING", expected="0", pid="7")
    assert "once" not in world.book.read() and world.supervisord.calls == []
    world.crash()
    world.crash()
    del world.supervisord.states["app"]  # removed while held back
    world.tick(60)
    assert world.supervisord.calls == [("start", "app")]


def test_parse_exit_matches_the_spawn_by_pid() -> None:
    lines = [
        "2026-12-01 15:06:07,484 INFO spawned: 'app' with pid 11",
        "2026-12-01 15:06:09,408 INFO success: app entered RUNNING state",
        "2026-12-01 15:06:10,000 INFO spawned: 'app-2' with pid 12",
        "2026-12-01 15:06:15,252 WARN exited: app (terminated by SIGSEGV (core dumped); not expected)",
        "2026-12-01 15:06:16,000 WARN exited: app-2 (exit status 2; not expected)",
    ]
    found = parse_exit(lines, "app", 11, expected=False)
    assert found is not None
    assert (found.signal, found.status, found.pid) == (signal.SIGSEGV, None, 11)
    assert found.ran_s == pytest.approx(7.768)
    other = parse_exit(lines, "app-2", None, expected=False)
    assert other is not None and (other.status, other.pid) == (2, 12)
    assert parse_exit(lines, "app", 99, expected=False) == ExitRecord(
        at=datetime(2026, 12, 1, 15, 6, 15, 252000).timestamp(), pid=99, signal=signal.SIGSEGV
    )
    assert parse_exit(lines, "ap", None, expected=False) is None


def test_rendering_of_durations_and_records() -> None:
    assert [duration(s) for s in (1.54, 42, 303, 7500)] == ["1.5s", "42s", "5m03s", "2h05m"]
    assert ProgramRecord().last_exit_text() == "-"
    held = ProgramRecord(restarts=2, held_until=T0 + 0.2)
    assert held.restarts_text(T0) == "2, restart due"
    assert ExitRecord(at=T0, signal=99).how == "signal 99"


def test_set_policy_keeps_the_counts(tmp_path: Path) -> None:
    book = RestartBook(tmp_path)
    book.set_policy("app", RestartPolicy())
    with book.edit() as programs:
        programs["app"].restarts = 4
    book.set_policy("app", RestartPolicy(startsecs=10))
    record = book.get("app")
    assert record is not None and record.restarts == 4 and record.policy.startsecs == 10
    book.forget("app")
    assert book.read() == {}


def test_program_config_restarts_crashes_not_finishes(tmp_path: Path) -> None:
    paths = StackPaths(tmp_path / "state", tmp_path / "cache")
    supervised = "\n".join(
        render_program(paths, Program("svc", ["run"], restart=RestartPolicy(startsecs=10)))
    )
    # supervisord never restarts by itself: the supervision listener does
    assert "autorestart=false\nexitcodes=0\nstartsecs=10\nstartretries=3" in supervised
    unsupervised = "\n".join(render_program(paths, Program("once", ["run"], restart=None)))
    assert "autorestart=false" in unsupervised and "startretries=0" in unsupervised
    config = render_config(paths, [])
    assert "[eventlistener:supervision]" in config
    assert f"-m shopstream.stack.restarts {tmp_path / 'state'}" in config
    assert "events=PROCESS_STATE,TICK_5" in config and "autostart=true" in config


def test_a_line_break_in_a_command_or_its_environment_is_refused_before_it_reaches_the_config(
    tmp_path: Path,
) -> None:
    paths = StackPaths(tmp_path / "state", tmp_path / "cache")
    expected = re.escape(r"program multi: a line break in 'import os\nimport sys'")
    with pytest.raises(StackError, match=expected):
        render_program(paths, Program("multi", ["python", "-c", "import os\nimport sys"]))
    with pytest.raises(StackError, match="program env: a line break in 'NOTE'") as caught:
        render_program(paths, Program("env", ["run"], environment={"NOTE": "two\nlines"}))
    assert "as a file" in str(caught.value.hint)
