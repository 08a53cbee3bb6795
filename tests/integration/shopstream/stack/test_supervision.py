"""Supervision on the real stack: crashes are restarted, counted and limited; stops are stops.

The first tests kill real services (Connect, the broker: others' tests wait out with their
retries); crash loops use throwaway programs of the same supervisord.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shopstream.errors import ShopstreamError
from shopstream.ops.jobs import Job
from shopstream.retry import NotYet, wait_until
from shopstream.settings import Settings
from shopstream.stack.restarts import ProgramRecord, RestartPolicy
from shopstream.stack.stack import Stack
from shopstream.stack.supervisor import Program, Supervisor

SHOPSTREAM = [sys.executable, "-m", "shopstream"]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}  # the whole table on one line per row
    command = [*SHOPSTREAM, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _record(supervisor: Supervisor, name: str) -> ProgramRecord:
    record = supervisor.record(name)
    assert record is not None, f"no restart books for {name}"
    return record


def _program_check(name: str) -> dict[str, object]:
    result = _cli("pipeline", "status", "--json", "--interval", "0")
    [check] = [
        c for c in json.loads(result.stdout)["checks"] if c["component"] == "program" and c["name"] == name
    ]
    return dict(check)


def _spawns_and_exits(stack: Stack, name: str) -> tuple[list[float], list[float]]:
    """When supervisord spawned the program's processes and when they exited, from its log."""
    spawns, exits = [], []
    for line in (stack.ctx.paths.logs / "supervisord.log").read_text().splitlines():
        at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() if line[:2] == "20" else 0
        if f"spawned: '{name}' with pid" in line:
            spawns.append(at)
        elif f"exited: {name} (" in line:
            exits.append(at)
    return spawns, exits


@pytest.fixture
def throwaway(stack: Stack) -> Iterator[str]:
    """A program name of this test's own, removed from the supervisor afterwards."""
    name = f"test-crash-{uuid.uuid4().hex[:6]}"
    yield name
    stack.supervisor.remove(name)


def test_kill_9_of_the_connect_worker_is_restarted_counted_and_recorded(stack: Stack) -> None:
    supervisor, connect = stack.supervisor, stack.service("connect")
    wait_until(lambda: supervisor.state("connect") == "RUNNING" and connect.probe(), 180, "connect healthy")
    before = _record(supervisor, "connect").restarts
    pid = supervisor.pid("connect")
    assert pid is not None

    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: supervisor.state("connect") != "RUNNING" or supervisor.pid("connect") != pid, 30, "exit"
    )
    stack.up()  # idempotent while the supervisor restarts it: waits, no port clash, no start by hand

    def healthy() -> bool:
        if supervisor.state("connect") != "RUNNING" or supervisor.pid("connect") in (None, pid):
            raise NotYet(f"connect {supervisor.state('connect')}")
        return bool(connect.probe())

    wait_until(healthy, 180, "connect RUNNING and healthy again", every_s=0.25)
    recovery_s = time.monotonic() - killed_at
    print(f"connect: kill -9 of pid {pid} -> RUNNING and healthy again in {recovery_s:.1f} s")

    record = _record(supervisor, "connect")
    assert record.restarts == before + 1 and record.gave_up is None
    assert record.last_exit is not None
    assert (record.last_exit.signal, record.last_exit.pid) == (signal.SIGKILL, pid)
    assert record.last_exit.ran_s is not None and record.last_exit.ran_s > 0
    assert recovery_s < 180

    status = _cli("stack", "status")
    [row] = [line for line in status.stdout.splitlines() if line.startswith("│ connect ")]
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[1] == "RUNNING" and cells[4] == "yes"
    assert cells[7] == str(before + 1) and cells[8].startswith("SIGKILL "), row


def _kill_and_wait_back(stack: Stack, name: str) -> float:
    """kill -9 of the service; returns the seconds until it is RUNNING and healthy again, by itself."""
    supervisor, service = stack.supervisor, stack.service(name)
    pid = supervisor.pid(name)
    assert pid is not None, f"{name} is not running"
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)

    def healthy() -> bool:
        state, now_pid = supervisor.state(name), supervisor.pid(name)
        if state != "RUNNING" or now_pid in (None, pid):
            record = supervisor.record(name)
            raise NotYet(f"{name} {state}, restarts {record.restarts_text(time.time()) if record else '?'}")
        try:
            return bool(service.probe())
        except ShopstreamError as exc:  # RUNNING, not answering yet
            raise NotYet(str(exc)) from exc

    wait_until(healthy, 180, f"{name} RUNNING and healthy again after kill -9 of pid {pid}", every_s=0.25)
    return time.monotonic() - killed_at


@pytest.mark.parametrize("name", ["kafka", "connect"])
def test_two_crashes_within_the_restart_window_each_come_back_by_themselves(stack: Stack, name: str) -> None:
    """The second crash within the window is held back (5 s, or more when earlier tests crashed it
    too), never left down: the held restart is made when the hold ends."""
    supervisor, service = stack.supervisor, stack.service(name)
    wait_until(lambda: supervisor.state(name) == "RUNNING" and service.probe(), 180, f"{name} healthy")
    before = _record(supervisor, name).restarts
    first = _kill_and_wait_back(stack, name)
    time.sleep(max(0.0, 20 - first))  # the second kill 20 s after the first: within the window
    second = _kill_and_wait_back(stack, name)
    print(f"{name}: kill -9 twice 20 s apart -> healthy again in {first:.1f} s and {second:.1f} s")
    record = _record(supervisor, name)
    assert record.restarts == before + 2 and record.gave_up is None and record.held_until is None
    assert supervisor.failure(name) is None
    time.sleep(6)  # past a TICK_5: nothing stops it again
    assert supervisor.state(name) == "RUNNING" and service.probe()


def test_a_program_that_keeps_crashing_is_given_up_after_the_limit(stack: Stack, throwaway: str) -> None:
    supervisor = stack.supervisor
    policy = RestartPolicy(startsecs=1, startretries=0, max_restarts=2, window_s=300, backoff_s=3)
    crashes = [sys.executable, "-c", "import time; time.sleep(2); raise SystemExit(3)"]
    supervisor.add(Program(throwaway, crashes, restart=policy))
    supervisor.start(throwaway)

    def given_up() -> ProgramRecord:
        record = _record(supervisor, throwaway)
        if not record.gave_up or supervisor.state(throwaway) != "EXITED":
            raise NotYet(f"{supervisor.state(throwaway)}, {record.restarts_text(time.time())}")
        return record

    record = wait_until(given_up, 90, f"{throwaway} given up")
    assert record.restarts == 2 and record.gave_up == "3 crashes within 5 min"
    assert record.last_exit is not None and record.last_exit.status == 3
    assert record.last_exit.ran_s is not None and record.last_exit.ran_s >= 2
    assert supervisor.failure(throwaway) == "EXITED: the supervisor gave up (3 crashes within 5 min)"
    time.sleep(6)  # and it stays down (past a TICK_5)
    assert supervisor.state(throwaway) == "EXITED" and _record(supervisor, throwaway).restarts == 2

    # supervisord's log: the first restart came at once, the second was held back >= 3 s
    spawns, exits = _spawns_and_exits(stack, throwaway)
    assert len(exits) == 3, exits
    first = max(t for t in spawns if t < exits[1])  # the process of the second run
    second = max(t for t in spawns if t < exits[2])  # of the third run
    assert first - exits[0] < 2.5 and second - exits[1] >= 3, (spawns, exits)

    check = _program_check(throwaway)
    assert check["health"] == "fail"
    data = check["data"]
    assert isinstance(data, dict) and data["restarts"] == 2 and data["gave_up"] == "3 crashes within 5 min"
    assert data["last_exit"]["status"] == 3 and data["last_exit"]["how"] == "exit 3"
    assert "gave up" in str(check["detail"])

    supervisor.start(throwaway)  # a start by hand: a new run with new counts
    assert _record(supervisor, throwaway).restarts == 0
    wait_until(lambda: _record(supervisor, throwaway).restarts == 1, 30, "restarted once more")


def test_a_job_is_supervised_by_default_and_a_clean_stop_is_not_restarted(
    stack: Stack, settings: Settings, tmp_path: Path
) -> None:
    """A real Job (`shopstream stack logs kafka -f`: runs until stopped) with the default policy."""
    follow = ["stack", "logs", "kafka", "-f"]
    job = Job(settings, f"test-follow-{uuid.uuid4().hex[:6]}", follow, log=tmp_path / "job.log")
    try:
        job.start()
        pid = job.pid
        assert pid is not None and job.restarts() == 0
        os.kill(pid, signal.SIGKILL)  # a crash: restarted by the supervisor, as every Job

        # state and pid from one read: read apart, the killed process's RUNNING (before supervisord
        # reaped it) and then its pid (None, once reaped) passed as "restarted" before any restart
        def restarted() -> bool:
            info = job.supervisor.info(job.name)
            return info["statename"] == "RUNNING" and info["pid"] not in (0, pid)

        wait_until(restarted, 30, f"{job.name} restarted")
        assert job.restarts() == 1 and job.alive()

        job.stop()  # a clean stop
        time.sleep(7)  # longer than a restart would take to show (startsecs 5)
        assert job.supervisor.state(job.name) == "STOPPED" and job.restarts() == 1 and not job.alive()
        assert job.supervisor.failure(job.name) == "STOPPED"
    finally:
        job.remove()


def test_a_finish_with_status_0_is_not_restarted(stack: Stack, throwaway: str) -> None:
    supervisor = stack.supervisor
    finite = [sys.executable, "-c", "import time; time.sleep(2)"]
    supervisor.add(Program(throwaway, finite, restart=RestartPolicy(startsecs=1)))
    supervisor.start(throwaway)
    wait_until(lambda: supervisor.state(throwaway) == "EXITED", 30, f"{throwaway} finished")
    time.sleep(3)
    assert supervisor.state(throwaway) == "EXITED" and supervisor.failure(throwaway) == "EXITED"
    record = _record(supervisor, throwaway)
    assert record.restarts == 0 and record.last_exit is not None
    assert (record.last_exit.status, record.last_exit.expected) == (0, True)
