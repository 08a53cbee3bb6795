"""What the pipeline run left in InfluxDB, read back over HTTP in the oracle's shapes."""

from __future__ import annotations

from typing import Any, Protocol

from shopstream.contracts import kpi_campaign, kpi_segment, shop_events
from shopstream.settings import Settings
from tests.integration.grafana.influx import InfluxDB


class PipelineRun(Protocol):
    """A pipeline run's settings and its InfluxDB database."""

    @property
    def settings(self) -> Settings: ...

    @property
    def influx(self) -> InfluxDB: ...


def _rows(run: PipelineRun, query: str, epoch: str = "ms") -> list[dict[str, Any]]:
    """Every row of every series as a dict of its columns and its series' tags."""
    rows = []
    for series in run.influx.query(query, epoch=epoch):
        tags = series.get("tags", {})
        for values in series["values"]:
            rows.append({**tags, **dict(zip(series["columns"], values, strict=True))})
    return rows


def event_count(run: PipelineRun) -> int:
    rows = _rows(run, f"SELECT count(event_id) FROM {shop_events().qualified(run.settings)}")
    return int(rows[0]["count"]) if rows else 0


def event_points(run: PipelineRun) -> list[dict[str, Any]]:
    """Every point of the event measurement, times in ns."""
    return _rows(run, f"SELECT * FROM {shop_events().qualified(run.settings)}", epoch="ns")


def campaign_points(run: PipelineRun) -> dict[tuple[str, int], dict[str, Any]]:
    m = kpi_campaign()
    return {
        (row["campaign_id"], int(row["time"])): {f: row[f] for f in m.fields}
        for row in _rows(run, f"SELECT * FROM {m.qualified(run.settings)} GROUP BY *")
    }


def segment_points(run: PipelineRun) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    m = kpi_segment()
    return {
        (row["gender"], row["age_band"], row["state"], int(row["time"])): {f: row[f] for f in m.fields}
        for row in _rows(run, f"SELECT * FROM {m.qualified(run.settings)} GROUP BY *")
    }
