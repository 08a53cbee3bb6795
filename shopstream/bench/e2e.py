"""`shopstream bench e2e`: the whole pipeline at fixed producer rates, measured where a user looks:
in InfluxDB.

Everything runs as `shopstream run` runs it, on topics, subjects, connectors and an InfluxDB
database of the benchmark's own (removed afterwards): the Spark job as two applications, the
telemetry sampler and the three InfluxDB sink connectors; per step, the producer (`shopstream
produce --rate R --duration S`) as a program of the stack's supervisor.

What one step reports (figures over the step after its warm-up):
- events/s into InfluxDB: event points whose event time lies in the measured interval, divided by
  its length (the producer stamps event time as it sends, so this is the rate at which events of
  that interval landed), and whether every acknowledged event of the step landed;
- latency from production to queryable: the benchmark polls InfluxDB every ``POLL_S`` for the
  points of one state's customers (a tag: an indexed, cheap query; about 1 % of the events, chosen
  from the demographics table) and takes, per point, the poll that first saw it minus its
  ``source_timestamp`` (the Kafka timestamp the producer gave the event); resolution: the poll
  interval;
- the per-stage breakdown of the same sampled events: producer acknowledgement (the producer's own
  sampled delivery latency), Spark (``produced_at`` - ``source_timestamp``: the enriched record's
  write), sink (first seen in InfluxDB - ``produced_at``);
- KPI freshness: every second, now minus the newest ``last_event_time`` in ``kpi_campaign`` (the
  newest event the KPI points reflect when read); and, read from the KPI query's status file at the
  same polls, the duration of its micro-batches (Spark's ``triggerExecution``): freshness is about
  the trigger, plus a batch, plus the way from the KPI topic into InfluxDB;
- KPI lag: source records the KPI query had not committed at the step's end (from its checkpoint);
- de-duplication: the copies the producer sent (``--resend``: a share of the events sent twice), the
  duplicates and late events the KPI query left out during the step, and its state of event ids at
  the step's end (rows, memory, disk), from the job's own status file;
- CPU seconds per process during the step (the stack's services, both Spark applications, the
  telemetry sampler, the producer) and the load average before and after.

A lead-in at the first rate comes before the steps (``lead_in_s``; 0: none): the Spark
applications' start-up (JVM, first plans, code generation, state store) happens there, not in the
first step, and the steps start once the KPI query's lag is within its bound. Its figures are kept
apart in the JSON ("lead_in"), never taken as a result.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from producer.run import RunSummary
from shopstream.bench.cpu import CpuMeter
from shopstream.clients.influx import InfluxClient
from shopstream.clients.kafka import end_offset_total
from shopstream.contracts import kpi_campaign, shop_events
from shopstream.errors import ProcessFailed, Timeout
from shopstream.jobstatus import KPIS, QueryStatus, read_status
from shopstream.ops import demographics
from shopstream.ops.monitor import query_lag
from shopstream.ops.trial import Trial
from shopstream.retry import wait_until
from shopstream.settings import Settings
from shopstream.stats import percentiles

Report = Callable[[str], None]
POLL_S = 0.25  # how often the latency probe asks InfluxDB (its resolution)
FRESHNESS_POLL_S = 1.0
PROBE_WINDOW_S = 15  # the probe asks for the last 15 s of event time (a sweep catches later points)
SAMPLE_SHARE = 0.005  # the share of customers whose events the probe follows
GOALS = {"events_p95_ms": 2_000.0, "events_p99_ms": 5_000.0, "kpi_freshness_p95_ms": 10_000.0}
# the KPI lag is bounded when the query is at most this many micro-batch triggers of records behind
# (one batch being processed, one arriving, one of slack): a lag that grows with time exceeds it
LAG_BOUND_TRIGGERS = 3
DRAIN_S = 120
RESEND_AFTER_S = 20.0  # a copy comes this long after its original: within the watermark


@dataclass(frozen=True)
class Percentiles:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples: int

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        figures = percentiles(values)
        return cls(figures["p50"], figures["p95"], figures["p99"], len(values))


@dataclass(frozen=True)
class Step:
    target_rate: int
    produced: int  # acknowledged by Kafka
    landed: int  # event points of the step in InfluxDB once drained
    all_landed: bool
    into_influxdb_per_s: float
    latency: Percentiles  # production -> queryable in InfluxDB
    spark_stage: Percentiles  # production -> enriched record written
    sink_stage: Percentiles  # enriched record written -> queryable
    producer_ack: dict[str, float] | None  # the producer's p50/p95/p99 acknowledgement latency, ms
    kpi_freshness: Percentiles
    kpi_batch: Percentiles  # the KPI query's micro-batches that ended in the measured interval
    kpi_lag: int | None  # source records the KPI query had not committed at the step's end
    kpi_lag_bound: int  # LAG_BOUND_TRIGGERS KPI micro-batches' worth of records at the step's rate
    goals_met: bool
    load_average_before: float  # 1 min, at the step's start: anything else running shows here
    load_average_1m: float  # at the step's end
    resent: int  # copies the producer sent (already counted in ``produced``, not in ``landed``)
    dedup: Dedup | None  # what the KPI query left out during the step (None: no status from it)
    cpu_s: dict[str, float | None]  # CPU seconds of each process during the step


@dataclass(frozen=True)
class Dedup:
    duplicates_dropped: int
    late_dropped: int
    state_rows: int  # event ids the de-duplication remembered at the step's end
    state_memory_bytes: int
    state_disk_bytes: int | None

    @classmethod
    def between(cls, before: QueryStatus | None, after: QueryStatus | None) -> Dedup | None:
        if after is None:
            return None
        same_run = before is not None and before.pid == after.pid
        store = after.dedup_store
        return cls(
            duplicates_dropped=after.duplicates_dropped
            - (before.duplicates_dropped if same_run and before else 0),
            late_dropped=after.late_rows_dropped - (before.late_rows_dropped if same_run and before else 0),
            state_rows=store.rows if store else 0,
            state_memory_bytes=store.memory_bytes if store else 0,
            state_disk_bytes=store.disk_bytes if store else None,
        )


class Probe:
    """Polls InfluxDB in a thread: the sampled state's event points (first-seen time per event)
    and the newest ``last_event_time`` of the campaign KPIs (freshness samples)."""

    def __init__(self, settings: Settings, state: str, checkpoints: Path) -> None:
        self.checkpoints = checkpoints
        self.client = InfluxClient(settings.influxdb, timeout_s=10)
        self.events_from = shop_events().qualified(settings)
        self.kpis_from = kpi_campaign().qualified(settings)
        self.state = state.replace("'", "\\'")
        self.seen: dict[str, tuple[int, int, int]] = {}  # event id -> (source ms, produced ms, seen ms)
        self.freshness: list[tuple[int, int]] = []  # (read ms, age ms)
        self.batches: dict[int, tuple[int, int]] = {}  # KPI batch id -> (first read ms, duration ms)
        self.errors = 0
        self.incomplete = 0  # probe rows without their timestamps
        self.last_error: str | None = None
        self._lock = threading.Lock()  # the poll thread and the sweep share one HTTP session
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-e2e-probe")

    def _poll_events(self, since_ms: int | None = None, until_ms: int | None = None) -> None:
        with self._lock:
            self._poll_events_locked(since_ms, until_ms)

    def _poll_events_locked(self, since_ms: int | None, until_ms: int | None) -> None:
        now_ms = int(time.time() * 1000)
        q = (
            f'SELECT "event_id", "source_timestamp", "produced_at" FROM {self.events_from} '
            f"WHERE \"state\" = '{self.state}' AND time > {since_ms or now_ms - PROBE_WINDOW_S * 1000}ms"
        )
        if until_ms is not None:
            q += f" AND time < {until_ms}ms"
        for series in self.client.query(q):
            for row in series.rows:
                source_ms, produced_ms = row.get("source_timestamp"), row.get("produced_at")
                if source_ms is None or produced_ms is None:
                    self.incomplete += 1  # cannot time it: counted, left out of the percentiles
                    continue
                if row["event_id"] not in self.seen:
                    self.seen[row["event_id"]] = (int(source_ms), int(produced_ms), now_ms)

    def _poll_freshness(self) -> None:
        now_ms = int(time.time() * 1000)
        series = self.client.query(
            f'SELECT max("last_event_time") FROM {self.kpis_from} WHERE time > now() - 15m'
        )
        newest = [row["max"] for s in series for row in s.rows if row.get("max")]
        if newest:
            self.freshness.append((now_ms, now_ms - int(newest[0])))
        status = read_status(self.checkpoints, KPIS)
        if status is not None and status.last_batch_id is not None:
            self.batches.setdefault(status.last_batch_id, (now_ms, status.last_batch_ms))

    def _run(self) -> None:
        next_freshness = 0.0
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                self._poll_events()
                if began >= next_freshness:
                    self._poll_freshness()
                    next_freshness = began + FRESHNESS_POLL_S
            except Exception as exc:  # e.g. the retention policy before the first point: counted, shown
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(max(POLL_S - (time.monotonic() - began), 0.0))

    def start(self) -> None:
        self._thread.start()

    def sweep(self, start_ms: int, end_ms: int) -> None:
        """After a step: the sampled points of its interval that no poll saw (later than the poll
        window) are seen now, a conservative latency."""
        self._poll_events(start_ms - 1, end_ms)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.close()

    def latencies(self, start_ms: int, end_ms: int) -> tuple[list[float], list[float], list[float]]:
        """(production -> queryable, Spark stage, sink stage) of the sampled events produced in
        [start, end)."""
        total: list[float] = []
        spark: list[float] = []
        sink: list[float] = []
        for source_ms, produced_ms, seen_ms in list(self.seen.values()):
            if start_ms <= source_ms < end_ms:
                total.append(seen_ms - source_ms)
                spark.append(produced_ms - source_ms)
                sink.append(seen_ms - produced_ms)
        return total, spark, sink

    def ages(self, start_ms: int, end_ms: int) -> list[float]:
        return [age for at, age in list(self.freshness) if start_ms <= at < end_ms]

    def batch_ms(self, start_ms: int, end_ms: int) -> list[float]:
        return [float(ms) for at, ms in list(self.batches.values()) if start_ms <= at < end_ms]


def sample_state(settings: Settings, share: float = SAMPLE_SHARE) -> tuple[str, float]:
    """The state whose customers' share of the demographics table is nearest ``share``."""
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute("SELECT state, COUNT(*) FROM demographics GROUP BY state")
        counts = {str(state): int(n) for state, n in cur.fetchall()}
    total = sum(counts.values())
    state = min(counts, key=lambda s: (abs(counts[s] / total - share), s))
    return state, counts[state] / total


class E2EBench:
    def __init__(
        self, settings: Settings, step_s: float, warmup_s: float, report: Report, resend: float = 0.0
    ) -> None:
        self.trial = Trial(settings, "bench.e2e", report)
        self.step_s = step_s
        self.warmup_s = warmup_s
        self.report = report
        self.resend = resend

    def step(
        self, rate: int, probe: Probe, landed_before: int, seed: int, seconds: float | None = None
    ) -> Step:
        """One step at ``rate`` for ``seconds`` (the benchmark's step length unless given)."""
        b = self.trial.settings
        seconds = self.step_s if seconds is None else seconds
        load_before = round(os.getloadavg()[0], 2)
        before = end_offset_total(b.kafka, b.topics.events)
        kpis_before = read_status(self.trial.checkpoints, KPIS)
        resend = (
            ["--resend", f"{self.resend:g}", "--resend-after", f"{RESEND_AFTER_S:g}"] if self.resend else []
        )
        producer = self.trial.producer(rate, seconds, seed, name=f"producer-{rate}", extra=resend)
        cpu = CpuMeter(self.trial.pids())
        started_ms = int(time.time() * 1000)
        producer.start()
        try:
            status = producer.wait_exit(seconds + 120)
        finally:
            producer.remove()
        if status != 0:
            failure = f"the producer exited with {status}:\n{producer.tail()}"
            raise ProcessFailed(failure, f"see {producer.log}")
        ended_ms = int(time.time() * 1000)
        cpu_s = cpu.used()
        kpi_lag = query_lag(b, self.trial.checkpoints, KPIS, b.topics.events)
        summary = RunSummary.model_validate_json(self.trial.summary_path(f"producer-{rate}").read_text())
        cpu_s[f"producer-{rate}"] = summary.cpu_s
        resent = summary.resent
        # idempotent producer: one offset per sent record; the copies give no point of their own
        produced = end_offset_total(b.kafka, b.topics.events) - before - resent
        client = InfluxClient(b.influxdb, timeout_s=30)
        try:
            total = landed_before + produced
            with contextlib.suppress(Timeout):  # reported below: not all landed
                wait_until(
                    lambda: self.trial.event_points(client) >= total, DRAIN_S, "the step's events", every_s=1
                )
            landed = self.trial.event_points(client) - landed_before
            measured_from = started_ms + int(self.warmup_s * 1000)
            window = self.trial.event_points(client, measured_from, ended_ms)
        finally:
            client.close()
        probe.sweep(started_ms, ended_ms)
        total_lat, spark, sink = probe.latencies(measured_from, ended_ms)
        latency = Percentiles.of(total_lat)
        freshness = Percentiles.of(probe.ages(measured_from, ended_ms))
        lag_bound = self.lag_bound(rate)
        met = (
            landed == produced
            and kpi_lag is not None
            and kpi_lag <= lag_bound
            and latency.p95_ms <= GOALS["events_p95_ms"]
            and latency.p99_ms <= GOALS["events_p99_ms"]
            and freshness.p95_ms <= GOALS["kpi_freshness_p95_ms"]
        )
        return Step(
            target_rate=rate,
            produced=produced,
            landed=landed,
            all_landed=landed == produced,
            into_influxdb_per_s=round(window / ((ended_ms - measured_from) / 1000), 1),
            latency=latency,
            spark_stage=Percentiles.of(spark),
            sink_stage=Percentiles.of(sink),
            producer_ack=summary.ack_latency_ms,
            kpi_freshness=freshness,
            kpi_batch=Percentiles.of(probe.batch_ms(measured_from, ended_ms)),
            kpi_lag=kpi_lag,
            kpi_lag_bound=lag_bound,
            goals_met=met,
            load_average_before=load_before,
            load_average_1m=round(os.getloadavg()[0], 2),
            resent=resent,
            dedup=Dedup.between(kpis_before, read_status(self.trial.checkpoints, KPIS)),
            cpu_s=cpu_s,
        )

    def lag_bound(self, rate: int) -> int:
        return int(rate * LAG_BOUND_TRIGGERS * self.trial.settings.spark.kpi_trigger_s)

    def lead_in(self, rate: int, seconds: float, probe: Probe) -> Step:
        """The pipeline at ``rate`` for ``seconds``, then until the KPI query's lag is within its bound
        (at most ``DRAIN_S``): the start-up's backlog is behind the steps."""
        self.report(f"lead-in {rate:,} events/s for {seconds:g} s (not a result: start-up happens here)")
        step = self.step(rate, probe, 0, seed=999, seconds=seconds)
        b = self.trial.settings

        def caught_up() -> bool:
            lag = query_lag(b, self.trial.checkpoints, KPIS, b.topics.events)
            return lag is not None and lag <= self.lag_bound(rate)

        try:
            wait_until(caught_up, DRAIN_S, "the KPI query within its lag bound after the lead-in", every_s=2)
        except Timeout as exc:
            self.report(f"  {exc} (the first step starts with a backlog)")
        return step


def bench_e2e(
    settings: Settings,
    rates: list[int],
    step_s: float,
    warmup_s: float,
    report: Report,
    resend: float = 0.0,
    lead_in_s: float = 0.0,
) -> dict[str, Any]:
    bench = E2EBench(settings, step_s, warmup_s, report, resend)
    steps: list[Step] = []
    lead_in: Step | None = None
    try:
        report(f"setting up {bench.trial.prefix}: topics, contracts, sink connectors, Spark job, telemetry")
        bench.trial.setup()
        state, share = sample_state(bench.trial.settings)
        report(f"latency probe: the events of customers in state {state} ({share:.2%} of them)")
        probe = Probe(bench.trial.settings, state, bench.trial.checkpoints)
        probe.start()
        try:
            landed = 0
            if lead_in_s:
                lead_in = bench.lead_in(rates[0], lead_in_s, probe)
                landed = lead_in.landed
            for index, rate in enumerate(rates):
                report(f"step {rate:,} events/s for {step_s:g} s (load average {os.getloadavg()[0]:.2f})")
                step = bench.step(rate, probe, landed, seed=1000 + index)
                landed += step.landed
                steps.append(step)
                arrived = "all landed" if step.all_landed else f"{step.landed:,} of {step.produced:,} landed"
                report(
                    f"  {step.into_influxdb_per_s:,.0f} events/s into InfluxDB ({arrived}); "
                    f"p50/p95/p99 {step.latency.p50_ms:,.0f}/{step.latency.p95_ms:,.0f}/"
                    f"{step.latency.p99_ms:,.0f} ms; KPI freshness p95 {step.kpi_freshness.p95_ms:,.0f} ms "
                    f"(KPI batches p50/p95 {step.kpi_batch.p50_ms:,.0f}/{step.kpi_batch.p95_ms:,.0f} ms), "
                    f"KPI lag {step.kpi_lag if step.kpi_lag is not None else '-'}; "
                    f"duplicates dropped {step.dedup.duplicates_dropped if step.dedup else '-'} "
                    f"of {step.resent:,} resent; load average {step.load_average_before} -> "
                    f"{step.load_average_1m}"
                )
        finally:
            probe.stop()
            failed_polls, last_error, incomplete = probe.errors, probe.last_error, probe.incomplete
    finally:
        bench.trial.teardown()
    held = [s.target_rate for s in steps if s.goals_met]
    return {
        "benchmark": "e2e",
        "machine": {"cores": os.cpu_count(), "memory_gib": _memory_gib()},
        "step_s": step_s,
        "warmup_s": warmup_s,
        "lead_in": asdict(lead_in) if lead_in else None,
        "probe": {
            "state": state,
            "share": round(share, 4),
            "poll_s": POLL_S,
            "failed_polls": failed_polls,
            "last_error": last_error,
            "rows_without_timestamps": incomplete,
        },
        "goals": GOALS,
        "resend": resend,
        "settings": {
            "kpi_dedup": settings.spark.kpi_dedup,
            "state_store": settings.spark.state_store,
            "kpi_trigger_s": settings.spark.kpi_trigger_s,
            "kpi_nice": settings.spark.kpi_nice,
            "watermark": settings.spark.watermark,
        },
        "steps": [asdict(s) for s in steps],
        "kpi_lag_bound": f"{LAG_BOUND_TRIGGERS} x SHOPSTREAM_SPARK_KPI_TRIGGER_S x rate",
        "max_rate_goals_met": max(held, default=None),
    }


def _memory_gib() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)
