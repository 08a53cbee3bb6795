"""InfluxDB 1.x over plain HTTP (``/write``, ``/query``), and Grafana's InfluxQL macro substitution.

Plain ``requests`` instead of the ``influxdb`` PyPI client: the tests need three calls, and that
client adds an untyped dependency for nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from shopstream.clients.influx import line, provision_database
from shopstream.contracts import measurements
from shopstream.settings import InfluxRole, Settings

Json = dict[str, Any]
Row = tuple[Any, ...]
SeriesKey = tuple[tuple[str, str], ...]
Result = dict[SeriesKey, tuple[tuple[str, ...], list[Row]]]
"""Tags of a series -> (column names, rows): one shape for InfluxDB answers and expectations."""


@dataclass(frozen=True)
class Point:
    """One InfluxDB point; the constructor refuses anything outside the measurement contract."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, int | float]
    time_ms: int

    def __post_init__(self) -> None:
        contract = measurements()[self.measurement]
        assert set(self.tags) == set(contract.tags), (self.measurement, self.tags)
        assert set(self.fields) == set(contract.fields), (self.measurement, self.fields)
        for name in contract.integer_fields:
            assert type(self.fields[name]) is int, (self.measurement, name)
        for name in contract.float_fields:
            assert type(self.fields[name]) is float, (self.measurement, name)

    @property
    def identity(self) -> tuple[str, SeriesKey, int]:
        """Points with the same measurement, tag set and time are one point in InfluxDB."""
        return self.measurement, tuple(sorted(self.tags.items())), self.time_ms

    def line(self) -> str:
        return line(self.measurement, self.tags, self.fields, self.time_ms)


class InfluxDB:
    """One database on the InfluxDB of the settings, each request as the identity that makes it in
    production: created and dropped by the admin (with the pipeline's grants), written by the writer,
    read by the reader (Grafana's datasource user)."""

    def __init__(self, settings: Settings, database: str) -> None:
        self.settings = settings
        self.url = settings.influxdb.url
        self.database = database
        self.sessions: dict[str, requests.Session] = {}
        roles: tuple[InfluxRole, ...] = ("admin", "writer", "reader")
        for role in roles:
            login = settings.influxdb.login(role)
            self.sessions[role] = requests.Session()
            self.sessions[role].auth = (login.user, login.secret)
        self.session = self.sessions["reader"]

    def _results(self, response: requests.Response, statement: str) -> list[Json]:
        assert response.status_code == 200, f"{statement}: HTTP {response.status_code} {response.text}"
        results: list[Json] = response.json()["results"]
        for result in results:
            assert "error" not in result, f"{statement}: {result['error']}"
        return results

    def execute(self, statement: str) -> None:
        """A statement that changes the server (POST, no database needed)."""
        response = self.sessions["admin"].post(f"{self.url}/query", data={"q": statement}, timeout=30)
        self._results(response, statement)

    def create(self) -> None:
        provision_database(self.settings.influxdb, self.database)

    def drop(self) -> None:
        self.execute(f'DROP DATABASE "{self.database}"')

    def databases(self) -> list[str]:
        return [row[0] for series in self.query("SHOW DATABASES") for row in series["values"]]

    def write(self, points: Iterable[Point]) -> None:
        body = "\n".join(point.line() for point in points)
        response = self.sessions["writer"].post(
            f"{self.url}/write", params={"db": self.database, "precision": "ms"}, data=body, timeout=30
        )
        assert response.status_code == 204, f"write: HTTP {response.status_code} {response.text}"

    def query(self, query: str, epoch: str = "ms") -> list[Json]:
        """The series of one read query (GET, as Grafana's httpMode GET), times in epoch ms (or
        ``epoch``)."""
        response = self.session.get(
            f"{self.url}/query", params={"db": self.database, "q": query, "epoch": epoch}, timeout=60
        )
        (result,) = self._results(response, query)
        series: list[Json] = result.get("series", [])
        return series


@dataclass(frozen=True)
class TimeRange:
    start_ms: int
    end_ms: int

    def __contains__(self, time_ms: object) -> bool:
        return isinstance(time_ms, int) and self.start_ms <= time_ms <= self.end_ms


def render_influxql(query: str, time_range: TimeRange, interval: str, variables: Mapping[str, str]) -> str:
    """Substitute what Grafana substitutes before sending a raw InfluxQL query: ``$timeFilter`` as
    Grafana renders an absolute range (``time >= <from>ms and time <= <to>ms``), ``$__interval``
    (e.g. ``1m``) and dashboard variables (already formatted, e.g. ``(a|b)`` for a regex)."""
    values = {
        "timeFilter": f"time >= {time_range.start_ms}ms and time <= {time_range.end_ms}ms",
        "__interval": interval,
        **variables,
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"no value for ${name} in {query}"
        return values[name]

    return re.sub(r"\$(\w+)", substitute, query)


def regex_value(values: Sequence[str]) -> str:
    """A multi-value selection as Grafana formats it for a regex match: ``(a|b)``, values escaped."""
    return "(" + "|".join(re.escape(value) for value in values) + ")"


def normalize(series: list[Json], per_interval: bool) -> Result:
    """InfluxDB series as a Result; without GROUP BY time the time column (range start or the
    selected point's time) is dropped: panels then show values only."""
    result: Result = {}
    for one in series:
        key = tuple(sorted(one.get("tags", {}).items()))
        columns = tuple(one["columns"])
        rows = [tuple(row) for row in one["values"]]
        assert columns[0] == "time"
        if not per_interval:
            columns, rows = columns[1:], [row[1:] for row in rows]
        assert key not in result
        result[key] = (columns, rows)
    return result
