"""The Connect worker's JMX metrics over HTTP, through its Jolokia agent (JSON over POST), with the
Connect REST identity of the settings (the local worker's agent asks for the same basic auth).

The InfluxDB sink registers its metrics as KIP-877 plugin metrics: one MBean per task,
``kafka.connect:type=plugins,connector=<name>,task=<id>``; a task instance that started while a stuck
predecessor still held that name adds ``instance=<n>`` (see connectors/influxdb-sink/README.md): the
newest instance of a task is the one with the highest ``instance``.
"""

from __future__ import annotations

import re
from typing import Any

import requests

from shopstream.errors import ConnectError
from shopstream.settings import ConnectSettings

_TASK = re.compile(r"[,:]task=(\d+)(?:,|$)")
_INSTANCE = re.compile(r"[,:]instance=(\d+)(?:,|$)")


def sink_mbean(connector: str) -> str:
    """The ObjectName pattern of the sink's metrics of every task (and task instance) of a connector."""
    return f"kafka.connect:type=plugins,connector={connector},*"


class JolokiaClient:
    def __init__(self, connect: ConnectSettings, timeout_s: float = 5.0) -> None:
        url = connect.jolokia_url
        if not url:
            raise ConnectError(
                "no Jolokia endpoint configured", "set SHOPSTREAM_CONNECT_JOLOKIA_URL to the worker's agent"
            )
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.login = connect.login()
        if self.login is not None:
            self.session.auth = (self.login.user, self.login.secret)

    def read(self, mbean: str) -> dict[str, dict[str, Any]]:
        """Every attribute of each MBean the name (or pattern) matches, by full MBean name; empty
        when none matches."""
        try:
            resp = self.session.post(self.url, json={"type": "read", "mbean": mbean}, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise ConnectError(
                f"Jolokia unreachable at {self.url}: {exc}",
                "is Connect running with its agent (`shopstream stack status`)?",
            ) from exc
        if resp.status_code == 401:
            if self.login is None:
                raise ConnectError(
                    f"Jolokia at {self.url} requires authentication (HTTP 401)",
                    "set SHOPSTREAM_CONNECT_USER and SHOPSTREAM_CONNECT_PASSWORD",
                )
            raise ConnectError(self.login.refused(self.url, "HTTP 401"), self.login.hint)
        if not resp.ok:
            raise ConnectError(f"Jolokia read {mbean}: HTTP {resp.status_code} {resp.text[:300]}")
        body = resp.json()
        if body.get("status") == 404:  # InstanceNotFoundException: nothing registered (yet)
            return {}
        if body.get("status") != 200:
            raise ConnectError(f"Jolokia read {mbean}: {body.get('status')} {body.get('error')}")
        value = body.get("value") or {}
        if "*" not in mbean:  # a plain name answers with the attributes themselves
            return {mbean: value}
        return dict(value)

    def sink_tasks(self, connector: str) -> dict[int, dict[str, float]]:
        """task id -> the sink's metrics of that task's newest instance (only tasks that have
        registered them)."""
        found: dict[int, tuple[int, dict[str, float]]] = {}
        for name, attributes in self.read(sink_mbean(connector)).items():
            task = _TASK.search(name)
            if task is None:
                continue
            instance = _INSTANCE.search(name)
            rank = int(instance.group(1)) if instance else 0
            if int(task.group(1)) not in found or rank > found[int(task.group(1))][0]:
                metrics = {k: float(v) for k, v in attributes.items() if isinstance(v, int | float)}
                found[int(task.group(1))] = (rank, metrics)
        return {task: metrics for task, (_rank, metrics) in found.items()}

    def close(self) -> None:
        self.session.close()
