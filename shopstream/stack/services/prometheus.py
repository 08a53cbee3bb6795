"""Prometheus (Debian's ``prometheus``) as a service of the local stack, on 127.0.0.1, its data in
the state dir.

It scrapes itself, Alertmanager, the broker's and Connect's JMX exporter agents, the stack exporter,
and the pipeline's own processes (Spark drivers, producers, telemetry samplers), which register
themselves in ``<state dir>/prometheus/targets`` (``shopstream.metrics``). It evaluates the
rules of ``monitoring/prometheus/alerts.yml`` (the checked-in file itself: the rules shipped are the
rules run) and sends alerts to the stack's Alertmanager. The configuration is written as JSON (YAML's
subset), from :func:`scrape_configs`, which Compose's ``monitoring/prometheus/prometheus.compose.yml``
mirrors (a unit test compares them).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from shopstream.clients.monitoring import Prometheus
from shopstream.metrics import targets_dir
from shopstream.resources import project_file
from shopstream.settings import Settings
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services import connect, kafka
from shopstream.stack.services.base import Service, StackContext, require_binary
from shopstream.stack.supervisor import Program

Json = dict[str, Any]
SPARK_METRICS_PATH = "/metrics/prometheus"
# Spark's PrometheusServlet names a streaming query's gauges
# metrics_<namespace>_driver_spark_streaming_<query>_<gauge>_Value (and _Number, the same value):
# kept as spark_streaming_<gauge>{query="<query>"}, everything else of the driver dropped
_SPARK_STREAMING = (
    r"metrics_[a-z0-9]+_driver_spark_streaming_(.+)_"
    r"(inputRate_total|processingRate_total|latency|states_rowsTotal|states_usedBytes|eventTime_watermark)_Value"
)
SPARK_RELABELS: list[Json] = [
    {"source_labels": ["__name__"], "regex": _SPARK_STREAMING, "target_label": "query", "replacement": "$1"},
    {
        "source_labels": ["__name__"],
        "regex": _SPARK_STREAMING,
        "target_label": "__name__",
        "replacement": "spark_streaming_$2",
    },
    {"source_labels": ["__name__"], "regex": "spark_streaming_.+", "action": "keep"},
]
FILE_JOBS = ("spark", "producer", "telemetry")  # the pipeline's processes register themselves


def rules_file() -> Path:
    """The alert and recording rules (``monitoring/prometheus/alerts.yml``)."""
    return project_file("monitoring", "prometheus", "alerts.yml")


def scrape_configs(
    static: dict[str, str | list[str]], file_sd: dict[str, list[str]] | None = None
) -> list[Json]:
    """Every scrape job: ``static`` job -> host:port (or several: a cluster's brokers, workers),
    ``file_sd`` job -> target files (the pipeline's processes; Compose names them statically instead)."""
    jobs: list[Json] = [
        {"job_name": job, "static_configs": [{"targets": [target] if isinstance(target, str) else target}]}
        for job, target in static.items()
    ]
    for job in FILE_JOBS:
        entry: Json = {"job_name": job}
        if file_sd is not None:
            entry["file_sd_configs"] = [{"files": file_sd[job], "refresh_interval": "30s"}]
        if job == "spark":
            entry["metrics_path"] = SPARK_METRICS_PATH
            entry["metric_relabel_configs"] = SPARK_RELABELS
        jobs.append(entry)
    return jobs


def render_config(settings: Settings, rules: Path) -> Json:
    s = settings
    targets = targets_dir(s)
    return {
        "global": {
            "scrape_interval": f"{s.prometheus.scrape_interval_s:g}s",
            "scrape_timeout": f"{min(10.0, s.prometheus.scrape_interval_s):g}s",
            "evaluation_interval": f"{s.prometheus.evaluation_interval_s:g}s",
            "external_labels": {"stack": "local"},
        },
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{s.alertmanager.port}"]}]}]
        },
        "scrape_configs": scrape_configs(
            {
                "prometheus": f"127.0.0.1:{s.prometheus.port}",
                "alertmanager": f"127.0.0.1:{s.alertmanager.port}",
                "kafka": [f"127.0.0.1:{kafka.metrics_port(s, i)}" for i in range(len(s.kafka.servers))],
                "connect": [f"127.0.0.1:{connect.metrics_port(s, i)}" for i in range(len(s.connect.urls))],
                "stack": f"127.0.0.1:{s.monitoring.stack_metrics_port}",
            },
            {job: [str(targets / f"{job}-*.json")] for job in FILE_JOBS},
        ),
    }


def _probe(settings: Settings) -> str:
    return Prometheus(settings.prometheus, timeout_s=3).version()


def service(ctx: StackContext) -> Service:
    home = ctx.paths.service_dir("prometheus")
    config = home / "prometheus.yml"

    def rendered() -> str:
        return json.dumps(render_config(ctx.settings, rules_file()), indent=1) + "\n"

    def prepare() -> None:
        targets_dir(ctx.settings).mkdir(parents=True, exist_ok=True)
        config.write_text(rendered())

    def program() -> Program:
        s = ctx.settings
        # changes with the configuration and the rules: `stack up` restarts Prometheus to load them
        digest = hashlib.sha256(rendered().encode() + rules_file().read_bytes()).hexdigest()[:16]
        return Program(
            "prometheus",
            [
                require_binary("prometheus", "prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={home / 'data'}",
                f"--storage.tsdb.retention.time={s.prometheus.retention}",
                f"--web.listen-address=127.0.0.1:{s.prometheus.port}",
                "--log.level=warn",
            ],
            environment={"SHOPSTREAM_PROMETHEUS_CONFIG": digest},
            restart=RestartPolicy(startsecs=3),
        )

    return Service(
        name="prometheus",
        ports={ctx.settings.prometheus.port: "SHOPSTREAM_PROMETHEUS_URL"},
        program=program,
        probe=lambda: _probe(ctx.settings),
        prepare=prepare,
    )
