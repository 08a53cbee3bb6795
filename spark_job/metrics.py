"""The Spark job's metrics for Prometheus: Spark's own PrometheusServlet on the driver's UI port, with
the streaming queries' metrics on (``spark.sql.streaming.metricsEnabled``): per query its input and
processing rates, batch duration (``latency``), watermark and state rows/bytes, named
``metrics_shopstream_driver_spark_streaming_<query>_<metric>_Value`` (the fixed namespace keeps the
application id out of the names); the local Prometheus renames them ``spark_streaming_<metric>
{query="<query>"}`` (shopstream/stack/services/prometheus.py). The driver registers its UI port as a
target (the port moves when it is taken) and removes it when it stops. None of it with
``SHOPSTREAM_MONITORING=false``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from shopstream.metrics import register_target
from shopstream.settings import Settings

METRICS_PATH = "/metrics/prometheus"
NAMESPACE = "shopstream"


def monitoring_conf(settings: Settings) -> dict[str, str]:
    """The session's metrics configuration."""
    if not settings.monitoring.enabled:
        return {}
    servlet = "spark.metrics.conf.*.sink.prometheusServlet"
    return {
        f"{servlet}.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        f"{servlet}.path": METRICS_PATH,
        "spark.metrics.namespace": NAMESPACE,
        "spark.sql.streaming.metricsEnabled": "true",
    }


def register_spark_target(settings: Settings, ui_url: str | None, queries: Sequence[str]) -> Path | None:
    """Register the driver's servlet (on its UI) with the local Prometheus; None without either."""
    port = urlsplit(ui_url).port if ui_url else None
    if not settings.monitoring.enabled or port is None:
        return None
    name = os.environ.get("SUPERVISOR_PROCESS_NAME") or f"spark-{os.getpid()}"
    return register_target(settings, "spark", name, port, {"program": name, "queries": ",".join(queries)})
