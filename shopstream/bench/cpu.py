"""CPU seconds used by the pipeline's processes, for the benchmarks' per-process figures."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import psutil


def listening_pid(url: str) -> int | None:
    """The local process listening on the URL's port, or None (a remote service)."""
    port = urlsplit(url).port
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                return int(conn.pid)
    except (psutil.Error, OSError):
        return None
    return None


def tree_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, its waited-for children and its live descendants
    (a Spark driver's JVM, nice'd wrappers); None when it is gone."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for process in [root, *root.children(recursive=True)]:
            with_children = process.cpu_times()
            total += with_children.user + with_children.system
            total += with_children.children_user + with_children.children_system
        return total
    except psutil.Error:
        return None


class CpuMeter:
    """CPU seconds used from now on by named processes (pid trees); a name whose process is not on
    this machine, or gone, reads None."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = dict(pids)
        self.start = {name: tree_cpu_s(pid) if pid else None for name, pid in self.pids.items()}

    @classmethod
    def of_url(cls, name: str, url: str) -> CpuMeter:
        return cls({name: listening_pid(url)})

    def used(self) -> dict[str, float | None]:
        figures: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            now, before = (tree_cpu_s(pid) if pid else None), self.start[name]
            figures[name] = None if now is None or before is None else round(now - before, 1)
        return figures
