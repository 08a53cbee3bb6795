"""The producer loop: traffic model -> sender, at a target rate, with stats and a clean stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from producer.sender import EventSender, InvalidRecord

Report = Callable[[str], None]


@dataclass(frozen=True)
class RunLimits:
    rate: float = 0.0  # events/s; 0 = as fast as possible
    count: int | None = None
    duration_s: float | None = None
    stats_interval_s: float = 5.0


@dataclass(frozen=True)
class RunResult:
    elapsed_s: float
    counters: dict[str, Any]
    stopped_by_signal: bool

    @property
    def acked_per_s(self) -> float:
        return float(self.counters["acked"]) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return float(self.counters["value_bytes"]) / 1e6 / self.elapsed_s if self.elapsed_s else 0.0


class _StopFlag:
    """Set by SIGINT/SIGTERM so the loop ends, flushes and reports instead of dying mid-batch."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopped = True


def run(
    sender: EventSender,
    events: Iterator[Mapping[str, Any]],
    limits: RunLimits,
    report: Report = print,
) -> RunResult:
    stop = _StopFlag()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    counters = sender.counters
    started = last_stats = time.perf_counter()
    last_acked = last_errors = 0
    deadline = started + limits.duration_s if limits.duration_s else None
    # Housekeeping (poll, pacing, stats) every `every` events: often enough to pace low rates smoothly.
    every = 1024 if limits.rate == 0 or limits.rate >= 100_000 else max(1, int(limits.rate // 100))
    n = 0
    limit = limits.count if limits.count is not None else -1
    send = sender.send
    try:
        for record in events:
            if n == limit or stop.stopped:
                break
            try:
                send(record, str(record["user_id"]).encode())
            except InvalidRecord as exc:
                report(f"invalid record: {exc}")
            n += 1
            if n % every == 0:
                sender.poll(0)
                now = time.perf_counter()
                if deadline is not None and now >= deadline:
                    break
                if limits.rate > 0:
                    ahead = n / limits.rate - (now - started)
                    if ahead > 0:
                        time.sleep(ahead)
                if now - last_stats >= limits.stats_interval_s:
                    rate = (counters.acked - last_acked) / (now - last_stats)
                    errors = sender.broker_errors - last_errors
                    report(
                        f"sent {counters.sent:,} acked {counters.acked:,} failed {counters.failed:,} "
                        f"invalid {counters.invalid:,} rate {rate:,.0f}/s"
                        + (f"; Kafka: {errors:,} errors, last: {sender.last_broker_error}" if errors else "")
                    )
                    last_stats, last_acked, last_errors = now, counters.acked, sender.broker_errors
        pending = sender.flush()
        if pending:
            report(f"{pending:,} events still undelivered after flush")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return RunResult(time.perf_counter() - started, counters.as_dict(), stop.stopped)
