"""`bench influx-shape`: what each candidate shape of the event points costs InfluxDB.

The same N enriched events (the producer's traffic model joined with the demographics, event times
over the last hour) are written as points of each shape straight to ``/write``: W concurrent writers,
batches of B points, gzip'd, nanosecond times disambiguated like the sink does
(``contracts.disambiguated_ns``), each shape into a throwaway database of its own. A shape is the set
of tags; every other value the events connector writes is a field.

Per shape: InfluxDB's own CPU seconds per point (its process, over the writes), points/s, the series
it created, the points stored (an event lost to a (series, time) collision is missing), the series
that matter for collisions (``1 / sum(p_i^2)`` over the share of events per series: equal to the
series count when events spread evenly) and from it the expected collisions per hour at a given
event rate, and the time of the queries the product runs on event points (the latency probe's
sample, the count of every event, one campaign's purchases, a segment per minute), median of three.

Everything the run creates goes afterwards, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import gzip
import os
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import count as counter
from typing import Any

import requests

from shopstream.bench.cpu import CpuMeter, listening_pid
from shopstream.bench.records import enriched_events
from shopstream.clients.influx import FieldValue, InfluxClient, line, provision_database
from shopstream.contracts import Measurement, disambiguated_ns, hash_bucket, shop_events
from shopstream.errors import InfluxError, ShopstreamError
from shopstream.settings import Settings

BUCKET = "bucket"
SAMPLE_SHARE = 0.01  # the latency probe reads about this share of the events
QUERY_RUNS = 3

Progress = Callable[[str, int, int | None], None]
Report = Callable[[str], None]


@dataclass(frozen=True)
class Shape:
    """Tags of the event points (the other values are fields); ``buckets``: a tag ``bucket`` with one
    of that many values picked by the event id's hash (0: none)."""

    name: str
    tags: tuple[str, ...]
    buckets: int = 0

    def tags_of(self, record: Mapping[str, Any]) -> dict[str, str]:
        tags = {t: str(record[t]) for t in self.tags if record.get(t) not in (None, "")}
        if self.buckets:
            tags[BUCKET] = str(hash_bucket(str(record["event_id"]), self.buckets))
        return tags


def shapes(buckets: Iterable[int], current: Measurement) -> list[Shape]:
    """The candidates: the connector's current tags, campaign and event type, and the event type
    with each bucket count (series bounded by 4 x buckets, whatever the campaigns)."""
    found = [
        Shape("current: " + ",".join(current.tags), current.tags),
        Shape("campaign_id,tag", ("campaign_id", "tag")),
    ]
    found += [Shape(f"tag,{BUCKET}({n})", ("tag",), n) for n in buckets]
    return found


@dataclass(frozen=True)
class ShapeFigures:
    shape: str
    tags: list[str]
    points: int
    seconds: float
    points_per_s: float
    influxdb_cpu_s: float | None
    influxdb_cpu_us_per_point: float | None
    series: int  # as InfluxDB counts them
    effective_series: float  # 1 / sum(p_i^2): what collisions see
    collisions_per_hour_at_rate: float
    points_stored: int
    events_lost: int  # to a (series, time) collision
    query_ms: dict[str, float]  # median of three
    load_average_before: list[float]
    load_average_after: list[float]


def effective_series(keys: Iterable[Hashable]) -> float:
    """``1 / sum(p_i^2)``: the number of evenly used series that would collide as often as these."""
    counts = Counter(keys)
    total = sum(counts.values())
    return total**2 / sum(n * n for n in counts.values()) if total else 0.0


def collisions_per_hour(rate: float, series: float, slots: int = 1_000_000) -> float:
    """Expected pairs of distinct events sharing a series, a millisecond and a time slot per hour,
    at ``rate`` events/s over ``series`` evenly used series (Poisson arrivals: rate^2 / (2 * series *
    1000 * slots) per second)."""
    return 3600 * rate * rate / (2 * series * 1000 * slots) if series else float("inf")


class ShapeBench:
    def __init__(
        self,
        settings: Settings,
        points: int = 300_000,
        writers: int = 3,
        batch: int = 5_000,
        buckets: Iterable[int] = (1024,),
        rate: float = 20_000,
        progress: Progress | None = None,
        report: Report | None = None,
    ) -> None:
        self.settings = settings
        self.points, self.writers, self.batch, self.rate = points, writers, batch, rate
        self.measurement = shop_events()
        self.shapes = shapes(buckets, self.measurement)
        self.progress: Progress = progress or (lambda _phase, _done, _total: None)
        self.report: Report = report or (lambda _line: None)
        self.run_id = uuid.uuid4().hex[:8]

    def run(self) -> dict[str, Any]:
        now_ms = time.time_ns() // 1_000_000
        events = list(enriched_events(self.points, seed=17, start_ms=now_ms - 3_600_000, span_ms=3_500_000))
        sample_state = _state_near(events, SAMPLE_SHARE)
        results = []
        for index, shape in enumerate(self.shapes):
            database = f"bench_{self.run_id}_shape{index}"
            try:
                results.append(self._shape(shape, events, database, sample_state))
            finally:
                self._drop(database)
        return {
            "benchmark": "influx-shape",
            "points": self.points,
            "writers": self.writers,
            "batch": self.batch,
            "rate_for_collisions": self.rate,
            "cpus": os.cpu_count(),
            "sample_state": sample_state,
            "shapes": [asdict(r) for r in results],
        }

    def _shape(self, shape: Shape, events: list[dict[str, Any]], database: str, state: str) -> ShapeFigures:
        load_before = os.getloadavg()
        m = self.measurement
        fields = [f for f in (*m.tags, *m.fields) if f not in shape.tags]
        bodies = [
            gzip.compress(
                "\n".join(self._line(shape, fields, e) for e in events[i : i + self.batch]).encode(), 1
            )
            for i in range(0, len(events), self.batch)
        ]
        target = self.settings.replace(influxdb_database=database)
        provision_database(target.influxdb)
        seconds, cpu_s = self._write(bodies, database, m.rp(target))
        client = InfluxClient(self.settings.influxdb, database=database, timeout_s=120, role="admin")
        try:
            where = m.qualified(target)
            stored = _scalar(client, f'SELECT count("event_id") FROM {where}')
            series = _scalar(client, f"SHOW SERIES EXACT CARDINALITY FROM {where}")
            queries = self._queries(shape, where, state)
            timings = {name: _median_ms(client, q) for name, q in queries.items()}
        finally:
            client.close()
        spread = effective_series(tuple(shape.tags_of(e).items()) for e in events)
        figures = ShapeFigures(
            shape=shape.name,
            tags=[*shape.tags, *([BUCKET] if shape.buckets else [])],
            points=len(events),
            seconds=round(seconds, 3),
            points_per_s=round(len(events) / seconds, 1),
            influxdb_cpu_s=cpu_s,
            influxdb_cpu_us_per_point=None if cpu_s is None else round(cpu_s * 1e6 / len(events), 1),
            series=series,
            effective_series=round(spread, 1),
            collisions_per_hour_at_rate=round(collisions_per_hour(self.rate, spread), 4),
            points_stored=stored,
            events_lost=len(events) - stored,
            query_ms=timings,
            load_average_before=[round(x, 2) for x in load_before],
            load_average_after=[round(x, 2) for x in os.getloadavg()],
        )
        self.report(
            f"{shape.name}: {figures.points_per_s:,.0f} points/s, InfluxDB "
            f"{figures.influxdb_cpu_us_per_point} us/point, {series:,} series, load "
            f"{load_before[0]:.1f} -> {figures.load_average_after[0]:.1f}"
        )
        return figures

    def _line(self, shape: Shape, fields: list[str], event: Mapping[str, Any]) -> str:
        values: dict[str, FieldValue] = {f: event[f] for f in fields if event.get(f) is not None}
        ns = disambiguated_ns(int(event["event_time"]), str(event["event_id"]))
        return line(self.measurement.name, shape.tags_of(event), values, ns)

    def _write(self, bodies: list[bytes], database: str, rp: str | None) -> tuple[float, float | None]:
        login = self.settings.influxdb.login("writer")
        params = {"db": database, "precision": "n", **({"rp": rp} if rp else {})}
        url = f"{self.settings.influxdb.url}/write"
        pending, lock, done = counter(), threading.Lock(), [0]

        def writer() -> None:
            with requests.Session() as session:
                session.auth = (login.user, login.secret)
                headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
                while (index := next(pending)) < len(bodies):
                    resp = session.post(url, params=params, data=bodies[index], headers=headers, timeout=120)
                    if resp.status_code != 204:
                        raise InfluxError(f"write into {database}: HTTP {resp.status_code} {resp.text[:300]}")
                    with lock:
                        done[0] += 1
                        self.progress(f"writing into {database}", done[0], len(bodies))

        cpu = CpuMeter({"influxdb": listening_pid(self.settings.influxdb.url)})
        began = time.perf_counter()
        with ThreadPoolExecutor(self.writers) as pool:
            for future in [pool.submit(writer) for _ in range(self.writers)]:
                future.result()
        return time.perf_counter() - began, cpu.used()["influxdb"]

    def _queries(self, shape: Shape, where: str, state: str) -> dict[str, str]:
        """The product's queries on event points, as this shape lets them be written."""
        if shape.buckets:
            picked = range(max(1, round(shape.buckets * SAMPLE_SHARE)))
            sample = f'"{BUCKET}" =~ /^({"|".join(str(b) for b in picked)})$/'
        else:
            sample = f"\"state\" = '{state}'"  # a tag or, in shapes without it, a field
        return {
            "probe sample (last 10 min)": f'SELECT "event_id", "produced_at" FROM {where} '
            f"WHERE {sample} AND time > now() - 10m",
            "count of every event": f'SELECT count("event_id") FROM {where}',
            "one campaign's purchases": f'SELECT count("event_id") FROM {where} '
            "WHERE \"campaign_id\" = 'cmp-001' AND \"tag\" = 'purchase'",
            "a segment per minute": f'SELECT count("event_id") FROM {where} '
            "WHERE \"gender\" = 'F' AND \"age_band\" = '25-34' AND time > now() - 1h GROUP BY time(1m)",
        }

    def _drop(self, database: str) -> None:
        client = InfluxClient(self.settings.influxdb, database=database, timeout_s=60, role="admin")
        try:
            client.query(f'DROP DATABASE "{database}"')
        finally:
            client.close()


def _state_near(events: list[dict[str, Any]], share: float) -> str:
    counts = Counter(str(e["state"]) for e in events if e.get("state"))
    total = sum(counts.values())
    return min(counts, key=lambda s: (abs(counts[s] / total - share), s))


def _scalar(client: InfluxClient, q: str) -> int:
    found = client.query(q)
    if not found or not found[0].rows:
        return 0
    return int(next(v for k, v in found[0].rows[0].items() if k != "time"))


def _median_ms(client: InfluxClient, q: str) -> float:
    took = []
    for _ in range(QUERY_RUNS):
        began = time.perf_counter()
        client.query(q)
        took.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(took), 1)


def bench_influx_shape(settings: Settings, **options: Any) -> dict[str, Any]:
    if not listening_pid(settings.influxdb.url):
        raise ShopstreamError(
            f"InfluxDB at {settings.influxdb.url} is not a process of this machine",
            "the benchmark reads InfluxDB's CPU time: run it next to the server (SHOPSTREAM_INFLUXDB_URL)",
        )
    return ShapeBench(settings, **options).run()
