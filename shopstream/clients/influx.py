"""InfluxDB 1.x over its plain HTTP API (line protocol in, JSON out) with `requests`.

Every client speaks as one InfluxDB role of the settings, by Basic auth: the admin (setup only:
users, grants, databases, retention policies), the writer (WRITE on a pipeline's database: the sink
connectors, the telemetry sampler), the reader (READ: Grafana, the live view, KPI reads). A refused
login (401) and a refused statement (403) are one error naming the settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from shopstream.clients import http
from shopstream.errors import InfluxError
from shopstream.settings import InfluxRole, InfluxSettings


@dataclass(frozen=True)
class Series:
    """One series of a query result: measurement name, tags of a GROUP BY, rows as column dicts."""

    name: str
    tags: dict[str, str]
    rows: list[dict[str, Any]]


def escape_tag(value: str) -> str:
    """Line protocol escaping of a tag key or value (commas, equals signs and spaces)."""
    return value.replace("\\", "\\\\").replace(",", r"\,").replace("=", r"\=").replace(" ", r"\ ")


def field_value(value: int | float | str | bool) -> str:
    """A field value in line protocol: integers get ``i``, strings are quoted, floats as such."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"InfluxDB cannot store {value!r}")
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', r"\"") + '"'


FieldValue = int | float | str | bool


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time: int) -> str:
    """One point in line protocol, tags sorted, the time in the precision of the write that sends it
    (``InfluxClient.write``: milliseconds unless told). The project's one line-protocol writer."""
    tag_part = "".join(f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()))
    field_part = ",".join(f"{escape_tag(k)}={field_value(v)}" for k, v in fields.items())
    return f"{escape_tag(measurement)}{tag_part} {field_part} {time}"


class InfluxClient:
    def __init__(
        self,
        influxdb: InfluxSettings,
        database: str | None = None,
        timeout_s: float = 5.0,
        role: InfluxRole = "reader",
    ) -> None:
        self.url = influxdb.url
        self.database = database or influxdb.database
        self.timeout_s = timeout_s
        self.login = influxdb.login(role)
        self.session = requests.Session()
        # Basic auth, not the u/p query parameters: InfluxDB's access log records URLs
        self.session.auth = (self.login.user, self.login.secret)

    def _post(
        self, path: str, params: dict[str, str], data: str | dict[str, str] | None = None
    ) -> requests.Response:
        if not self.login.secret:
            raise InfluxError(
                f"no password for the InfluxDB user '{self.login.user}' ({self.login.password_setting} "
                "is empty)",
                self.login.hint,
            )
        try:
            resp = self.session.post(
                f"{self.url}{path}",
                params=params,
                data=data,
                timeout=http.timeout(self.timeout_s),
            )
        except requests.RequestException as exc:
            raise self._unreachable(http.reason(exc)) from exc
        if resp.status_code == 401:
            raise InfluxError(self.login.refused(self.url, f"HTTP 401 {_error_of(resp)}"), self.login.hint)
        if resp.status_code == 403:
            raise InfluxError(
                f"InfluxDB refused user '{self.login.user}' ({self.login.settings}): {_error_of(resp)}",
                "that takes another InfluxDB user (admin: setup; writer: writes; reader: queries)",
            )
        return resp

    def _unreachable(self, reason: str) -> InfluxError:
        return InfluxError(
            f"InfluxDB unreachable at {self.url} ({reason})",
            "is it running (`shopstream stack status`) and is SHOPSTREAM_INFLUXDB_URL right?",
        )

    def ping(self) -> str:
        """The server's version (``/ping``, no credentials needed); ``InfluxError`` naming the address
        and the setting when nothing answers there."""
        try:
            resp = self.session.get(f"{self.url}/ping", timeout=http.timeout(self.timeout_s))
        except requests.RequestException as exc:
            raise self._unreachable(http.reason(exc)) from exc
        if resp.status_code != 204:
            raise InfluxError(f"InfluxDB at {self.url}: /ping answered {resp.status_code}")
        return resp.headers.get("X-Influxdb-Version", "?")

    def write(self, lines: list[str], precision: str = "ms", rp: str | None = None) -> None:
        """Write points (timestamps in ``precision``: ns, u, ms, s) into the database (its default
        retention policy, or ``rp``); raises unless InfluxDB says 204."""
        if not lines:
            return
        params = {"db": self.database, "precision": precision, **({"rp": rp} if rp else {})}
        resp = self._post("/write", params, "\n".join(lines))
        if resp.status_code != 204:
            raise InfluxError(f"write to {self.database}: {resp.status_code} {resp.text.strip()[:300]}")

    def query(self, q: str, epoch: str = "ms") -> list[Series]:
        """Run one InfluxQL statement (times as epoch ``epoch``: ns, u, ms, s); every series of its
        result."""
        # the statement in the body, not the URL: CREATE USER and SET PASSWORD carry passwords
        resp = self._post("/query", {"db": self.database, "epoch": epoch}, {"q": q})
        body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
        if resp.status_code != 200 or "error" in body:
            raise InfluxError(f"query {q!r}: {resp.status_code} {body.get('error') or resp.text[:300]}")
        series = []
        for result in body.get("results", []):
            if "error" in result:
                raise InfluxError(f"query {q!r}: {result['error']}")
            for s in result.get("series", []):
                columns = s["columns"]
                rows = [dict(zip(columns, values, strict=True)) for values in s.get("values", [])]
                series.append(Series(s.get("name", ""), s.get("tags", {}), rows))
        return series

    def close(self) -> None:
        self.session.close()


def _error_of(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text.strip()))
    except ValueError:
        return resp.text.strip()[:300]


def _quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_users(influxdb: InfluxSettings) -> None:
    """The writer and the reader exist with the settings' passwords (created, or their password set:
    a password changed in .env takes effect here). As the admin."""
    admin = InfluxClient(influxdb, role="admin", timeout_s=10)
    try:
        existing = {str(row["user"]) for s in admin.query("SHOW USERS") for row in s.rows}
        roles: tuple[InfluxRole, ...] = ("writer", "reader")
        for role in roles:
            login = influxdb.login(role)
            if not login.secret:
                raise InfluxError(f"{login.password_setting} is empty", login.hint)
            if login.user in existing:
                admin.query(f'SET PASSWORD FOR "{login.user}" = {_quote(login.secret)}')
            else:
                admin.query(f'CREATE USER "{login.user}" WITH PASSWORD {_quote(login.secret)}')
    finally:
        admin.close()


def provision_database(influxdb: InfluxSettings, database: str | None = None) -> str:
    """A pipeline's database as its programs need it, made by the admin (the others may not): the
    database, the per-event retention policy (the sink writes into it, it may not create it), WRITE
    for the writer and READ for the reader. Idempotent; returns the database."""
    name = database or influxdb.database
    admin = InfluxClient(influxdb, name, role="admin", timeout_s=30)
    try:
        admin.query(f'CREATE DATABASE "{name}"')
        policies = {
            str(row["name"]) for s in admin.query(f'SHOW RETENTION POLICIES ON "{name}"') for row in s.rows
        }
        if influxdb.events_rp not in policies:
            admin.query(
                f'CREATE RETENTION POLICY "{influxdb.events_rp}" ON "{name}" '
                f"DURATION {influxdb.events_rp_duration} REPLICATION 1"
            )
        admin.query(f'GRANT WRITE ON "{name}" TO "{influxdb.writer_user}"')
        admin.query(f'GRANT READ ON "{name}" TO "{influxdb.reader_user}"')
    finally:
        admin.close()
    return name
