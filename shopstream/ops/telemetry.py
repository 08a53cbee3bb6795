"""The pipeline's own telemetry: each monitor sample as InfluxDB points (measurement
``pipeline_stage``, tag ``stage``, fields records, rate, lag; time = sampling time)."""

from __future__ import annotations

from shopstream.clients.influx import InfluxClient, line
from shopstream.contracts import PIPELINE_STAGE
from shopstream.errors import InfluxError
from shopstream.ops.monitor import Snapshot
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
        self.client = InfluxClient(settings, database)
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
