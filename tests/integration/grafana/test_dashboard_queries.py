"""The MariaDB dashboard panels, run against the real services as Grafana would send them: their
SQL against the real ``demographics`` table, loaded with ``shopstream demographics load``, must answer
the counts of the seeded rows. (The InfluxDB panels run against a real pipeline run's data:
tests/integration/e2e/test_dashboard_panels.py.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from shopstream.contracts import age_bands
from shopstream.ops import dashboards as build
from shopstream.ops import demographics
from shopstream.settings import Settings

DASHBOARDS = build.load_checked_in()
PANELS = [(name, panel) for name, dashboard in DASHBOARDS.items() for panel in build.iter_panels(dashboard)]
MYSQL_PANELS = [(n, p) for n, p in PANELS if p["datasource"]["uid"] == build.MYSQL_UID]


def _id(value: Any) -> str:
    return f"{value[0]}:{value[1]['title']}" if isinstance(value, tuple) else str(value)


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


def test_every_mariadb_panel_has_an_expectation() -> None:
    assert {definition["title"] for _, definition in MYSQL_PANELS} == set(MYSQL_EXPECTED)
    assert len(MYSQL_PANELS) == 3


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
