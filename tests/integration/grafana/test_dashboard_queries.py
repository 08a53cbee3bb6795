"""Every dashboard query, run against the real services as Grafana would send it.

InfluxDB panels: the queries of the checked-in dashboards, with Grafana's macros substituted, run
over HTTP against a throwaway database holding points the test wrote in the measurement contract
(the InfluxDB sink is unobtainable here, so the test writes what the sink would: see expected.py),
and must answer exactly what ``expected.INFLUX_PANELS`` computes from those points, per interval
and campaign selection. MariaDB panels: their SQL against the real ``demographics`` table, loaded
with ``shopstream demographics load``, must answer the counts of the seeded rows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from shopstream.contracts import age_bands
from shopstream.ops import dashboards as build
from shopstream.ops import demographics
from shopstream.settings import Settings
from tests.integration.grafana import expected
from tests.integration.grafana.influx import InfluxDB, normalize, regex_value, render_influxql

DASHBOARDS = build.load_checked_in()
PANELS = [(name, panel) for name, dashboard in DASHBOARDS.items() for panel in build.iter_panels(dashboard)]
INFLUX_PANELS = [(n, p) for n, p in PANELS if p["datasource"]["uid"] == build.INFLUXDB_UID]
MYSQL_PANELS = [(n, p) for n, p in PANELS if p["datasource"]["uid"] == build.MYSQL_UID]
# $campaign: Grafana's custom all value, and a multi-value selection of two campaigns
SELECTIONS: dict[str, tuple[str, frozenset[str] | None]] = {
    "all": (".*", None),
    "two": (regex_value(["cmp-000", "cmp-002"]), frozenset({"cmp-000", "cmp-002"})),
}


def _id(value: Any) -> str:
    return f"{value[0]}:{value[1]['title']}" if isinstance(value, tuple) else str(value)


def _run(influx: InfluxDB, name: str, panel: dict[str, Any], interval: str, selection: str) -> Any:
    (target,) = panel["targets"]
    query = render_influxql(target["query"], expected.RANGE, interval, {"campaign": SELECTIONS[selection][0]})
    return normalize(influx.query(query), per_interval="GROUP BY time(" in query)


def test_every_panel_has_an_expectation() -> None:
    assert {(name, panel["title"]) for name, panel in INFLUX_PANELS} == set(expected.INFLUX_PANELS)
    assert len(MYSQL_PANELS) == len(MYSQL_EXPECTED) == 3


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
def test_influxdb_panel_answers_exactly_what_was_written(
    influx: InfluxDB, panel: tuple[str, dict[str, Any]], interval: str, selection: str
) -> None:
    name, definition = panel
    spec = expected.INFLUX_PANELS[(name, definition["title"])]
    want = spec.expected(expected.INTERVALS[interval], SELECTIONS[selection][1])
    assert want, "the test data must give every panel something to show"
    assert _run(influx, name, definition, interval, selection) == want


def test_windows_show_their_latest_emission_and_money_in_euros(influx: InfluxDB) -> None:
    """Literal values, to read next to expected.WRITES: cmp-000's window 1 was written twice."""
    panel = next(p for n, p in INFLUX_PANELS if p["title"] == "Revenue per campaign")
    result = _run(influx, "campaigns.json", panel, "1m", "all")
    t0, minute = expected.T0, expected.MINUTE
    assert result[(("campaign_id", "cmp-000"),)] == (
        ("time", "revenue"),
        [(t0, 543.21), (t0 + minute, 612.34), (t0 + 2 * minute, 456.0), (t0 + 3 * minute, 700.07)],
    )
    assert (("campaign_id", "cmp-003"),) not in result  # outside the time range
    totals = next(p for n, p in INFLUX_PANELS if p["title"] == "Campaign totals")
    columns, rows = _run(influx, "campaigns.json", totals, "1m", "all")[(("campaign_id", "cmp-001"),)]
    assert dict(zip(columns, rows[0], strict=True)) == {
        "views": 1180,
        "clicks": 92,
        "add_to_carts": 27,
        "purchases": 9,
        "units": 11,
        "revenue": 370.49,
        "conversion": 9 / 92,
        "aov": 37_049 / 9 / 100,
    }
    conversion = next(p for n, p in INFLUX_PANELS if p["title"] == "Conversion rate per campaign")
    cmp_001 = _run(influx, "campaigns.json", conversion, "1m", "all")[(("campaign_id", "cmp-001"),)][1]
    assert cmp_001[-1] == (t0 + 3 * minute, 0)  # a window without clicks shows 0, not an error


def test_campaign_variable_lists_every_campaign(influx: InfluxDB) -> None:
    for name in ("campaigns.json", "funnel.json"):
        (variable,) = DASHBOARDS[name]["templating"]["list"]
        (series,) = influx.query(variable["query"])
        assert [value for _, value in series["values"]] == list(expected.CAMPAIGNS)


# --- MariaDB panels ----------------------------------------------------------------------------
def _band(age: int) -> str:
    band = age_bands().of(age)  # the Spark job's bands: the contract's
    assert band is not None, age
    return band


ROWS = list(demographics.generate(100_000, 42))
_BY_STATE = Counter((country, state) for _, _, _, state, country in ROWS)
MYSQL_EXPECTED: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {
    "Customers by gender": (("gender", "customers"), sorted(Counter(row[2] for row in ROWS).items())),
    "Customers by age band": (
        ("age_band", "customers"),
        sorted(Counter(_band(row[1]) for row in ROWS).items()),
    ),
    "Customers by state": (
        ("country", "state", "customers"),
        sorted(((c, s, n) for (c, s), n in _BY_STATE.items()), key=lambda r: (-r[2], r[0], r[1])),
    ),
}


@pytest.mark.parametrize("panel", MYSQL_PANELS, ids=_id)
def test_mariadb_panel_counts_the_demographics_table(
    demographics_loaded: None, settings: Settings, panel: tuple[str, dict[str, Any]]
) -> None:
    _, definition = panel
    (target,) = definition["targets"]
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(target["rawSql"])
        columns = tuple(column[0] for column in cur.description)
        rows = [tuple(row) for row in cur.fetchall()]
    want_columns, want_rows = MYSQL_EXPECTED[definition["title"]]
    assert (columns, rows) == (want_columns, want_rows)
    assert sum(row[-1] for row in rows) == 100_000
    assert len(rows) >= 3  # three genders, six age bands, dozens of states


def test_population_per_gender_and_age_band_covers_every_customer(
    demographics_loaded: None, settings: Settings
) -> None:
    by_band = next(p for _, p in MYSQL_PANELS if p["title"] == "Customers by age band")
    with demographics.connect(settings) as conn, conn.cursor() as cur:
        cur.execute(by_band["targets"][0]["rawSql"])
        bands = dict(cur.fetchall())
    assert set(bands) == {"18-24", "25-34", "35-44", "45-54", "55-64", "65+"}
    assert sum(bands.values()) == 100_000
