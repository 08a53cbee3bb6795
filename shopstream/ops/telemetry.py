"""The pipeline's own telemetry: each monitor sample as InfluxDB points (measurement
``pipeline_stage``, tag ``stage``, fields records, rate, lag; time = sampling time).

The sampler (`shopstream pipeline telemetry`) runs as a program of the stack's supervisor next to
the Spark job and the producer (``shopstream run`` starts it; Compose runs it as a service), so the
Grafana pipeline dashboard has data whether or not anyone watches a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from shopstream.clients.influx import InfluxClient, line
from shopstream.contracts import PIPELINE_STAGE
from shopstream.errors import InfluxError
from shopstream.ops.monitor import Monitor, Snapshot
from shopstream.ops.telemetry_metrics import TelemetryCollector, serve_telemetry_metrics
from shopstream.settings import Settings


def stage_points(snapshot: Snapshot) -> list[str]:
    """``pipeline_stage,stage=<name> records=<int>i,rate=<float>,lag=<int>i <ms>`` per existing stage."""
    time_ms = round(snapshot.at * 1000)
    return [
        line(
            PIPELINE_STAGE.name,
            {"stage": s.stage},
            {"records": s.records, "rate": float(s.rate_in), "lag": s.lag},
            time_ms,
        )
        for s in snapshot.stages
        if s.telemetry and s.exists
    ]


class Telemetry:
    """Writes every sample to InfluxDB; a failed write is remembered and shown, never raised."""

    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.client = InfluxClient(settings.influxdb, database, role="writer")  # pipeline_stage points
        self.points = 0
        self.error: str | None = None

    def write(self, snapshot: Snapshot) -> None:
        points = stage_points(snapshot)
        try:
            self.client.write(points)
        except InfluxError as exc:
            self.error = str(exc)
            return
        self.points += len(points)
        self.error = None

    def close(self) -> None:
        self.client.close()


def sample_forever(
    settings: Settings,
    interval_s: float,
    checkpoint_dir: Path | None = None,
    keep_going: Callable[[], bool] = lambda: True,
    report: Callable[[str], None] = lambda _line: None,
) -> int:
    """Sample every ``interval_s`` and write each sample, until ``keep_going()`` is false (or Ctrl-C
    / SIGTERM reach the caller); returns the points written. A failed write is reported (once per
    change of error) and retried with the next sample."""
    monitor = Monitor(settings, checkpoint_dir, probe_spark=False)
    telemetry = Telemetry(settings)
    metrics = TelemetryCollector(settings)  # the last sample, for Prometheus (ops/telemetry_metrics.py)
    endpoint = serve_telemetry_metrics(settings, metrics)
    last_error: str | None = None
    report(f"telemetry: sampling every {interval_s:g} s into InfluxDB {settings.influxdb.database}")
    if endpoint is not None:
        report(f"telemetry: metrics on {settings.monitoring.metrics_bind_address}:{endpoint.port}")
    try:
        while keep_going():
            began = time.monotonic()
            snapshot = monitor.sample()
            telemetry.write(snapshot)
            metrics.update(snapshot)
            if telemetry.error != last_error:
                report(f"telemetry: {telemetry.error or 'writing again'}")
                last_error = telemetry.error
            time.sleep(max(interval_s - (time.monotonic() - began), 0.05))
    finally:
        telemetry.close()
        metrics.close()
        if endpoint is not None:
            endpoint.close()
    return telemetry.points
