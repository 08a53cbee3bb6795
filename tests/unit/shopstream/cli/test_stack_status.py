"""`stack status`'s table: the supervisor's restart count and last exit per service."""

from __future__ import annotations

import time

from rich.console import Console

from shopstream.cli.stack import status_table
from shopstream.stack.restarts import ExitRecord, ProgramRecord
from shopstream.stack.stack import ServiceStatus


def _render(rows: list[ServiceStatus], listener: str = "RUNNING") -> list[str]:
    console = Console(width=250, record=True)
    console.print(status_table(rows, listener))
    return console.export_text().splitlines()


def test_restarts_and_last_exit_columns() -> None:
    now = time.time()
    killed = ExitRecord(at=now - 60, pid=41, signal=9, ran_s=3725.0)
    crashed = ExitRecord(at=now, status=1, ran_s=12.0)
    gave_up = ProgramRecord(restarts=5, gave_up="6 crashes within 10 min", last_exit=crashed)
    rows = [
        ServiceStatus("connect", "RUNNING", 42, [8083], True, "4.3.1", 2**29, "",
                      ProgramRecord(restarts=1, last_exit=killed)),
        ServiceStatus("kafka", "STOPPED", None, [9092], False, "", 0, "unreachable", gave_up),
        ServiceStatus("registry", "STOPPED", None, [8081], False, "", 0, "",
                      ProgramRecord(restarts=2, held_until=now + 30)),
        ServiceStatus("influxdb", "NOT_RUNNING", None, [8086], False, "", 0, ""),
    ]  # fmt: skip
    text = _render(rows)
    header = next(line for line in text if "service" in line)
    assert "restarts" in header and "last exit" in header
    cells = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:-1]] for line in text if "│" in line
    }
    assert cells["connect"][-2:] == [
        "1",
        f"SIGKILL {time.strftime('%H:%M:%S', time.localtime(now - 60))}, ran 1h02m",
    ]
    assert cells["kafka"][-2] == "5, gave up" and cells["kafka"][-1].startswith("exit 1 ")
    assert cells["registry"][-2] in ("2, next in 30 s", "2, next in 29 s") and cells["registry"][-1] == "-"
    assert cells["influxdb"][-2:] == ["-", "-"]
    assert not any("supervision listener" in line for line in text)


def test_a_listener_that_does_not_run_is_said() -> None:
    text = "\n".join(_render([], listener="FATAL"))
    assert "supervision listener FATAL: restarts are not counted or limited" in text
