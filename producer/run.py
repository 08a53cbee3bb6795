"""The producer loop: traffic model -> sender, at a target rate, with stats and a clean stop."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from pydantic import BaseModel

from producer.sender import AvroSender, InvalidRecord

Report = Callable[[str], None]


@dataclass(frozen=True)
class RunLimits:
    rate: float = 0.0  # events/s; 0 = as fast as possible
    count: int | None = None
    duration_s: float | None = None
    stats_interval_s: float = 5.0


class RunSummary(BaseModel):
    """What one run of `shopstream produce` did: printed as JSON at its end and, with
    ``--summary-json``, written to a file for the program that started it (a benchmark, a fault run)."""

    sent: int
    acked: int
    failed: int
    invalid: int
    violations: dict[str, int]
    value_bytes: int
    errors: dict[str, int]
    ack_latency_ms: dict[str, float] | None
    resent: int = 0  # copies of earlier events (``--resend``), already counted in ``sent``
    seconds: float
    cpu_s: float  # the producer process's CPU seconds
    acked_per_s: float
    stopped_by_signal: bool


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

    def summary(self, resent: int = 0) -> RunSummary:
        return RunSummary(
            **self.counters,
            resent=resent,
            seconds=round(self.elapsed_s, 3),
            cpu_s=round(time.process_time(), 1),
            acked_per_s=round(self.acked_per_s),
            stopped_by_signal=self.stopped_by_signal,
        )


class _StopFlag:
    """Set by SIGINT/SIGTERM so the loop ends, flushes and reports instead of dying mid-batch."""

    def __init__(self) -> None:
        self.stopped = False

    def __call__(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopped = True


def by_user(record: Mapping[str, Any]) -> bytes:
    """The events' key: the user id (a user's events stay in order on one partition)."""
    return str(record["user_id"]).encode()


def run(
    sender: AvroSender,
    events: Iterator[Mapping[str, Any]],
    limits: RunLimits,
    report: Report = print,
    key: Callable[[Mapping[str, Any]], bytes | None] = by_user,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Send the records at the limits' rate until their count, duration or a signal; a stats line
    every ``stats_interval_s`` and, with ``progress``, the records sent so far every few records."""
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
                send(record, key(record))
            except InvalidRecord as exc:
                report(f"invalid record: {exc}")
            n += 1
            if n % every == 0:
                sender.poll(0)
                if progress is not None:
                    progress(n)
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
        if progress is not None:
            progress(n)
        if pending:
            report(f"{pending:,} events still undelivered after flush")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return RunResult(time.perf_counter() - started, counters.as_dict(), stop.stopped)
