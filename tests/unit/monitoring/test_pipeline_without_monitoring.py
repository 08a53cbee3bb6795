"""The pipeline does not depend on its monitoring: `pipeline status` warns (and stays healthy) when
Prometheus, Alertmanager or the stack exporter is down, and fails when a pipeline service is."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopstream.ops.health import service_checks
from shopstream.settings import Settings
from shopstream.stack.stack import MONITORING_SERVICES, ServiceStatus, Stack, service_names


def test_a_monitoring_service_down_is_a_warning_a_pipeline_service_down_a_failure(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = {"prometheus", "alertmanager", "exporter", "kafka"}

    def status(_self: Stack) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                name, "RUNNING", 1, [1], name not in down, "v", 0, "" if name not in down else "down"
            )
            for name in (*service_names(Settings()), *MONITORING_SERVICES)
        ]

    monkeypatch.setattr(Stack, "status", status)
    health = {c.name: c.health for c in service_checks(Settings().replace(state_dir=clean_env))}
    assert health == {
        "mariadb": "ok", "influxdb": "ok", "kafka": "fail", "registry": "ok", "connect": "ok",
        "alertmanager": "warn", "prometheus": "warn", "exporter": "warn",
    }  # fmt: skip
