"""Prometheus' and Alertmanager's HTTP APIs (read only: queries, rules, alerts, versions).

Both fail within seconds naming the address and the setting when nothing answers, like every client
of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from shopstream.clients.http import reason, timeout
from shopstream.errors import MonitoringError
from shopstream.settings import AlertmanagerSettings, PrometheusSettings


def _get(service: str, base: str, setting: str, path: str, read_s: float, params: Any = None) -> Any:
    try:
        resp = requests.get(f"{base}{path}", params=params, timeout=timeout(read_s))
    except requests.RequestException as exc:
        raise MonitoringError(
            f"{service} unreachable at {base} ({reason(exc)})",
            f"is it running (`shopstream stack status`) and is {setting} right?",
        ) from exc
    if resp.status_code != 200:
        raise MonitoringError(f"{service} {path}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp.json()


class Prometheus:
    def __init__(self, prometheus: PrometheusSettings, timeout_s: float = 10.0) -> None:
        self.url = prometheus.url
        self.timeout_s = timeout_s

    def _data(self, path: str, **params: str) -> Any:
        body = _get("Prometheus", self.url, "SHOPSTREAM_PROMETHEUS_URL", path, self.timeout_s, params)
        return body["data"]

    def version(self) -> str:
        return str(self._data("/api/v1/status/buildinfo")["version"])

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        data = self._data("/api/v1/query", query=expr)
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def rules(self) -> list[dict[str, Any]]:
        """Every rule Prometheus loaded, with its state (alerting rules: inactive, pending, firing)."""
        return [rule for group in self._data("/api/v1/rules")["groups"] for rule in group["rules"]]

    def targets(self) -> list[dict[str, Any]]:
        return list(self._data("/api/v1/targets", state="active")["activeTargets"])


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager holds it."""

    name: str
    severity: str
    state: str  # active, suppressed, unprocessed
    starts_at: str
    summary: str
    runbook: str
    labels: dict[str, str]

    @classmethod
    def of(cls, body: dict[str, Any]) -> Alert:
        labels = dict(body.get("labels", {}))
        notes = body.get("annotations", {})
        return cls(
            name=labels.get("alertname", "?"),
            severity=labels.get("severity", ""),
            state=str(body.get("status", {}).get("state", "")),
            starts_at=str(body.get("startsAt", "")),
            summary=str(notes.get("summary", "")),
            runbook=str(notes.get("runbook", "")),
            labels=labels,
        )


class Alertmanager:
    def __init__(self, alertmanager: AlertmanagerSettings, timeout_s: float = 5.0) -> None:
        self.url = alertmanager.url
        self.timeout_s = timeout_s

    def _get(self, path: str, params: Any = None) -> Any:
        return _get("Alertmanager", self.url, "SHOPSTREAM_ALERTMANAGER_URL", path, self.timeout_s, params)

    def version(self) -> str:
        return str(self._get("/api/v2/status")["versionInfo"]["version"])

    def alerts(self, *, silenced: bool = False) -> list[Alert]:
        """The alerts firing now (active; with ``silenced`` also silenced and inhibited ones)."""
        flag = "true" if silenced else "false"
        params = {"active": "true", "silenced": flag, "inhibited": flag, "unprocessed": "true"}
        return sorted(
            (Alert.of(a) for a in self._get("/api/v2/alerts", params)), key=lambda a: (a.name, a.starts_at)
        )
