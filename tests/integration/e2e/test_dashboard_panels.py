"""Every InfluxDB dashboard panel, run as Grafana sends it, against the data a real pipeline run
wrote: the checked-in dashboards' queries with Grafana's macros substituted, over HTTP, over the
run's time range, per interval and campaign selection, must answer exactly what
``expected.INFLUX_PANELS`` computes from the KPIs the test derives from its own events (which the
run's KPI points equal: test_pipeline_into_influxdb) and from the telemetry the sampler wrote.
"""

from __future__ import annotations

from typing import Any

import pytest

from shopstream.contracts import PIPELINE_STAGE
from shopstream.ops import dashboards as build
from tests.integration.e2e.conftest import PipelineRun
from tests.integration.grafana import expected
from tests.integration.grafana.influx import Point, Result, TimeRange, normalize, regex_value, render_influxql

DASHBOARDS = build.load_checked_in()
INFLUX_PANELS = [
    (name, panel)
    for name, dashboard in DASHBOARDS.items()
    for panel in build.iter_panels(dashboard)
    if panel["datasource"]["uid"] == build.INFLUXDB_UID
]
# $campaign: Grafana's custom all value, and a multi-value selection of two campaigns
SELECTIONS: dict[str, tuple[str, frozenset[str] | None]] = {
    "all": (".*", None),
    "two": (regex_value(["cmp-000", "cmp-002"]), frozenset({"cmp-000", "cmp-002"})),
}


@pytest.fixture(scope="module")
def stored(pipeline_run: PipelineRun) -> tuple[list[Point], TimeRange]:
    """The points the panels aggregate, and the dashboard time range: from 30 s before the first
    KPI window to the end of the run (it holds every KPI window and every telemetry sample)."""
    run = pipeline_run
    kpis = expected.kpi_points(run.campaign_kpis, run.segment_kpis)
    rows = []
    for series in run.influx.query(f'SELECT * FROM "{PIPELINE_STAGE.name}" GROUP BY "stage"'):
        for values in series["values"]:
            rows.append({**series["tags"], **dict(zip(series["columns"], values, strict=True))})
    telemetry = expected.telemetry_points(rows)
    first = min(p.time_ms for p in kpis)
    return [*kpis, *telemetry], TimeRange(first - 30_000, run.finished_ms)


def _rounded(result: Result) -> Result:
    """Floats to 12 significant digits: InfluxDB sums and divides in another order than Python."""

    def one(value: Any) -> Any:
        return float(f"{value:.12g}") if isinstance(value, float) else value

    return {key: (columns, [tuple(map(one, row)) for row in rows]) for key, (columns, rows) in result.items()}


def test_every_panel_has_an_expectation() -> None:
    assert {(name, panel["title"]) for name, panel in INFLUX_PANELS} == set(expected.INFLUX_PANELS)


@pytest.mark.parametrize(
    ("panel", "interval", "selection"),
    [
        pytest.param((name, panel), interval, selection, id=f"{name}:{panel['title']}@{interval},{selection}")
        for name, panel in INFLUX_PANELS
        for interval in expected.INTERVALS
        for selection in SELECTIONS
        if selection == "all" or "$campaign" in panel["targets"][0]["query"]
    ],
)
def test_influxdb_panel_answers_exactly_what_the_pipeline_wrote(
    pipeline_run: PipelineRun,
    stored: tuple[list[Point], TimeRange],
    panel: tuple[str, dict[str, Any]],
    interval: str,
    selection: str,
) -> None:
    name, definition = panel
    points, time_range = stored
    spec = expected.INFLUX_PANELS[(name, definition["title"])]
    want = spec.expected(points, time_range, expected.INTERVALS[interval], SELECTIONS[selection][1])
    # a run of a few minutes has telemetry in one or two 5-minute buckets: their difference may be
    # nothing (and InfluxDB must then answer nothing); everything else has something to show
    assert want or (spec.difference and interval == "5m"), "the run must give the panel something to show"
    (target,) = definition["targets"]
    query = render_influxql(target["query"], time_range, interval, {"campaign": SELECTIONS[selection][0]})
    got = normalize(pipeline_run.influx.query(query), per_interval="GROUP BY time(" in query)
    assert _rounded(got) == _rounded(want)


def test_campaign_variable_lists_every_campaign(pipeline_run: PipelineRun) -> None:
    campaigns = sorted({campaign for campaign, _ in pipeline_run.campaign_kpis})
    assert len(campaigns) == 12
    for name in ("campaigns.json", "funnel.json"):
        (variable,) = DASHBOARDS[name]["templating"]["list"]
        (series,) = pipeline_run.influx.query(variable["query"])
        assert [value for _, value in series["values"]] == campaigns
