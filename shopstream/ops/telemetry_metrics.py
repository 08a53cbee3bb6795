"""The telemetry sampler's metrics for Prometheus: what only the pipeline's own view can tell.

`shopstream pipeline telemetry` samples the pipeline every few seconds anyway (topics, consumer
positions, Spark checkpoints, the job's status files); it serves the last sample on 127.0.0.1:
``SHOPSTREAM_TELEMETRY_METRICS_PORT`` (a free port for a second sampler, registered with the local
Prometheus). Why here and not in the Spark job: a stopped, hung or crashed application exposes
nothing, while its checkpoint still tells when it last committed and how far behind it is; and KPI
freshness is a property of what reached InfluxDB, read where it lands.

- ``shopstream_stage_records{stage,topic}``: records in each stage's topic (end minus start offsets);
- ``shopstream_consumer_lag_records{consumer,topic}``: each consumer's lag (Spark: from its
  checkpoint; Connect sinks: their group's committed offsets);
- ``shopstream_spark_query_last_commit_timestamp_seconds{query}``, ``..._committed_batch{query}``,
  ``..._lag_records{query}``: the query's last committed batch (when, which) and its lag behind it;
- ``shopstream_spark_query_running{query}``, ``..._input_rows_total``, ``..._duplicates_dropped_total``,
  ``..._late_rows_dropped_total``, ``..._state_rows``: what the job's status file says of this run;
- ``shopstream_kpi_last_event_timestamp_seconds{measurement}`` (the newest ``last_event_time`` in the
  KPI points of the last 15 minutes) and ``shopstream_kpi_freshness_seconds{measurement}`` (now minus
  it, at the scrape).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shopstream.clients.influx import InfluxClient
from shopstream.contracts import kpi_campaign, kpi_segment
from shopstream.errors import InfluxError
from shopstream.metrics import Endpoint, serve
from shopstream.ops.monitor import Snapshot
from shopstream.settings import Settings

Family = GaugeMetricFamily | CounterMetricFamily


class TelemetryCollector(Collector):
    """Holds the sampler's last snapshot and KPI times; renders them when Prometheus scrapes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._newest_kpi_s: dict[str, float] = {}
        self._kpis = {m.name: m.qualified(settings) for m in (kpi_campaign(), kpi_segment())}
        self._client: InfluxClient | None = None

    def update(self, snapshot: Snapshot) -> None:
        newest = self._read_kpi_times()
        with self._lock:
            self._snapshot = snapshot
            self._newest_kpi_s.update(newest)

    def _read_kpi_times(self) -> dict[str, float]:
        """The newest last_event_time per KPI measurement (epoch seconds); none when unreadable."""
        if self._client is None:
            self._client = InfluxClient(self.settings.influxdb, timeout_s=5, role="reader")
        found = {}
        for name, source in self._kpis.items():
            try:
                series = self._client.query(
                    f'SELECT max("last_event_time") FROM {source} WHERE time > now() - 15m'
                )
            except InfluxError:
                continue  # InfluxDB away, or no such measurement yet: the freshness ages on
            newest = [row["max"] for s in series for row in s.rows if row.get("max")]
            if newest:
                found[name] = int(newest[0]) / 1000
        return found

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def collect(self) -> Iterator[Family]:
        with self._lock:
            snapshot, newest = self._snapshot, dict(self._newest_kpi_s)
        now = time.time()
        last = GaugeMetricFamily(
            "shopstream_kpi_last_event_timestamp_seconds",
            "Newest last_event_time in the KPI points of the last 15 minutes",
            labels=["measurement"],
        )
        fresh = GaugeMetricFamily(
            "shopstream_kpi_freshness_seconds",
            "Now minus the newest last_event_time in the KPI points",
            labels=["measurement"],
        )
        for measurement, at in sorted(newest.items()):
            last.add_metric([measurement], at)
            fresh.add_metric([measurement], max(0.0, now - at))
        yield last
        yield fresh
        if snapshot is None:
            return
        yield from self._pipeline(snapshot)

    def _pipeline(self, snapshot: Snapshot) -> Iterator[Family]:
        stamp = GaugeMetricFamily("shopstream_telemetry_sample_timestamp_seconds", "Time of the last sample")
        stamp.add_metric([], snapshot.at)
        yield stamp
        records = GaugeMetricFamily(
            "shopstream_stage_records", "Records in the stage's topic", labels=["stage", "topic"]
        )
        for stage in snapshot.stages:
            if stage.exists:
                records.add_metric([stage.stage, stage.topic], stage.records)
        yield records
        lag = GaugeMetricFamily(
            "shopstream_consumer_lag_records", "Records the consumer is behind", labels=["consumer", "topic"]
        )
        query_lag: dict[str, int] = {}
        for consumer in snapshot.consumers:
            lag.add_metric([consumer.consumer, consumer.topic], consumer.lag)
            if consumer.consumer.startswith("spark:"):
                query = consumer.consumer.removeprefix("spark:")
                query_lag[query] = query_lag.get(query, 0) + consumer.lag
        yield lag
        committed_at = GaugeMetricFamily(
            "shopstream_spark_query_last_commit_timestamp_seconds",
            "When the query's last batch was committed (its checkpoint's commit file)",
            labels=["query"],
        )
        batch = GaugeMetricFamily(
            "shopstream_spark_query_committed_batch", "The query's last committed batch id", labels=["query"]
        )
        behind = GaugeMetricFamily(
            "shopstream_spark_query_lag_records",
            "Records of the query's sources behind its last committed batch",
            labels=["query"],
        )
        for checkpoint in snapshot.queries:
            if checkpoint.committed_at is not None and checkpoint.committed_batch is not None:
                committed_at.add_metric([checkpoint.query], checkpoint.committed_at)
                batch.add_metric([checkpoint.query], checkpoint.committed_batch)
            if checkpoint.query in query_lag:
                behind.add_metric([checkpoint.query], query_lag[checkpoint.query])
        yield committed_at
        yield batch
        yield behind
        yield from _statuses(snapshot)


def _statuses(snapshot: Snapshot) -> Iterator[Family]:
    running = GaugeMetricFamily(
        "shopstream_spark_query_running", "The job's status file says the query runs", labels=["query"]
    )
    rows = GaugeMetricFamily(
        "shopstream_spark_query_state_rows", "Rows in the query's state", labels=["query"]
    )
    counters = {
        "input_rows": "Rows the query read since its application started",
        "duplicates_dropped": "Rows dropped as duplicates of a counted event id",
        "late_rows_dropped": "Rows older than the watermark, left out",
    }
    families = {
        key: CounterMetricFamily(f"shopstream_spark_query_{key}", doc, labels=["query"])
        for key, doc in counters.items()
    }
    for name, status in sorted(snapshot.statuses.items()):
        running.add_metric([name], 1.0 if status.state == "running" and _alive(status.pid) else 0.0)
        rows.add_metric([name], sum(store.rows for store in status.stores))
        for key, family in families.items():
            family.add_metric([name], getattr(status, key))
    yield running
    yield rows
    yield from families.values()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve_telemetry_metrics(settings: Settings, collector: TelemetryCollector) -> Endpoint | None:
    """Serve the collector and register the target (None with monitoring off)."""
    registry = CollectorRegistry()
    registry.register(collector)
    name = os.environ.get("SUPERVISOR_PROCESS_NAME") or f"telemetry-{os.getpid()}"
    return serve(settings, registry, settings.monitoring.telemetry_metrics_port, "telemetry", name)
