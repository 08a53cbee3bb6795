"""The platform dashboard (``grafana/dashboards/platform.json``): broker, Connect, the InfluxDB sink,
Spark, the producer and the stack, from Prometheus (datasource ``shopstream-prometheus``).

Built with the hand-written builder of ``shopstream.ops.dashboards`` (panels, layout), like the KPI
dashboards: grafana-foundation-sdk would add a dependency without removing code, since the builder
stays for the InfluxQL dashboards the SDK cannot express. Every query here is run against the
running pipeline by tests/integration/monitoring (each must return data).
"""

from __future__ import annotations

from typing import Any

from shopstream.ops.dashboards import PROMETHEUS_UID, Json, Panel, dashboard

RATE = "[1m]"


def prom(expr: str, legend: str = "", ref: str = "A") -> Json:
    """A PromQL target."""
    target: Json = {
        "refId": ref,
        "datasource": {"type": "prometheus", "uid": PROMETHEUS_UID},
        "editorMode": "code",
        "expr": expr,
        "range": True,
    }
    if legend:
        target["legendFormat"] = legend
    return target


def series(title: str, description: str, targets: list[Json], unit: str = "short", **kw: Any) -> Panel:
    options = {
        "legend": {
            "displayMode": "table",
            "placement": "right",
            "calcs": ["mean", "max"],
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return Panel("timeseries", title, description, targets, unit=unit, options=options, **kw)


def now(title: str, description: str, targets: list[Json], unit: str = "short", **kw: Any) -> Panel:
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "textMode": "auto",
    }
    return Panel("stat", title, description, targets, unit=unit, options=options, **kw)


def _not_running(kind: str) -> str:
    """Per connector, its (connector or task) state series that are not running; 0 when none."""
    metric = f"kafka_connect_{kind}_status"
    not_running = f'{metric} unless {metric}{{status="running"}}'
    return f"count by (connector) ({not_running}) or count by (connector) ({metric}) * 0"


RED_ABOVE_ZERO = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
RED_BELOW_ONE = [{"color": "red", "value": None}, {"color": "green", "value": 1}]


def panels() -> list[Panel]:
    return [
        # --- the stack -------------------------------------------------------------------------
        now(
            "Stack services up",
            "The health probe of each stack service (as `shopstream stack status`): 1 up, 0 down.",
            [prom("shopstream_service_up", "{{service}}")],
            width=12,
            height=5,
            thresholds=RED_BELOW_ONE,
        ),
        now(
            "Scrape targets up",
            "Every target Prometheus scrapes: exporters, Spark drivers, producers, samplers.",
            [prom("up", "{{job}} {{program}}")],
            width=8,
            height=5,
            thresholds=RED_BELOW_ONE,
        ),
        now(
            "Alerts firing",
            "Alert rules firing now (monitoring/prometheus/alerts.yml; `shopstream alerts` lists them).",
            [prom('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")],
            width=4,
            height=5,
            thresholds=RED_ABOVE_ZERO,
        ),
        # --- broker ----------------------------------------------------------------------------
        series(
            "Messages in per topic",
            "Records produced per second into each topic (the broker's count).",
            [
                prom(
                    f"sum by (topic) (rate(kafka_server_brokertopicmetrics_messagesin_total{RATE}))",
                    "{{topic}}",
                )
            ],
            "rps",
            width=12,
        ),
        series(
            "Broker requests per type",
            "Requests per second the broker served, by request type.",
            [
                prom(
                    f"sum by (request) (rate(kafka_network_requestmetrics_requests_total{RATE}))",
                    "{{request}}",
                )
            ],
            "reqps",
            width=12,
        ),
        series(
            "Request time, 99th percentile",
            "Total time of produce and fetch requests at the broker, 99th percentile.",
            [prom('kafka_network_requestmetrics_totaltimems{quantile="99thPercentile"}', "{{request}}")],
            "ms",
            width=12,
        ),
        now(
            "Partitions at risk",
            "Under-replicated and offline partitions (both should be 0).",
            [
                prom("sum(kafka_server_replicamanager_underreplicatedpartitions)", "under-replicated"),
                prom("sum(kafka_controller_kafkacontroller_offlinepartitionscount)", "offline", "B"),
            ],
            width=12,
            thresholds=RED_ABOVE_ZERO,
        ),
        # --- Connect ---------------------------------------------------------------------------
        now(
            "Connectors and tasks not running",
            "Per connector: not running (failed, paused, ...) or not, and its tasks not running.",
            [
                prom(_not_running("connector"), "{{connector}}"),
                prom(_not_running("task"), "{{connector}} tasks", "B"),
            ],
            width=12,
            thresholds=RED_ABOVE_ZERO,
        ),
        series(
            "Sink lag per connector",
            "Records behind per sink connector (its consumers' records-lag).",
            [prom("shopstream:connect_sink_lag:sum", "{{connector}}")],
            width=12,
        ),
        series(
            "Task errors and retries",
            "Records that failed in a converter/transform or in put(), and the framework's retries.",
            [
                prom(
                    f"sum by (connector) (rate(kafka_connect_task_error_total_record_errors_total{RATE}))",
                    "{{connector}} errors",
                ),
                prom(
                    f"sum by (connector) (rate(kafka_connect_task_error_total_retries_total{RATE}))",
                    "{{connector}} retries",
                    "B",
                ),
            ],
            "rps",
            width=12,
        ),
        series(
            "Dead letters per DLQ topic",
            "Records arriving per second in each dead-letter topic (Spark's and the sinks').",
            [prom("shopstream:dlq_records:rate1m", "{{topic}}")],
            "rps",
            width=12,
        ),
        # --- the InfluxDB sink (its KIP-877 metrics) ---------------------------------------------
        series(
            "InfluxDB sink: points written",
            "Points InfluxDB stored per second, per sink connector.",
            [
                prom(
                    f"sum by (connector) (rate(shopstream_influxdb_sink_points_written_total{RATE}))",
                    "{{connector}}",
                )
            ],
            "rps",
            width=12,
        ),
        series(
            "InfluxDB sink: write latency p95",
            "95th percentile time of a /write request, slowest task per connector.",
            [prom("max by (connector) (shopstream_influxdb_sink_write_latency_p95)", "{{connector}}")],
            "ms",
            width=12,
        ),
        series(
            "InfluxDB sink: retries and dead letters",
            "Write attempts that will be retried (5xx, timeouts), and records sent to the DLQ by put().",
            [
                prom(
                    f"sum by (connector) (rate(shopstream_influxdb_sink_retries_total{RATE}))",
                    "{{connector}} retries",
                ),
                prom(
                    f"sum by (connector) (rate(shopstream_influxdb_sink_records_dlq_total{RATE}))",
                    "{{connector}} DLQ",
                    "B",
                ),
            ],
            "rps",
            width=12,
        ),
        # --- Spark ---------------------------------------------------------------------------
        series(
            "Spark: input and processing rate",
            "Rows per second each streaming query read and processed (Spark's streaming metrics).",
            [
                prom("spark_streaming_inputRate_total", "{{query}} input"),
                prom("spark_streaming_processingRate_total", "{{query}} processed", "B"),
            ],
            "rps",
            width=12,
        ),
        series(
            "Spark: batch duration",
            "Duration of each query's last batch (trigger execution).",
            [prom("spark_streaming_latency", "{{query}}")],
            "ms",
            width=12,
        ),
        series(
            "Spark: state rows",
            "Rows in the queries' state stores (KPI windows and remembered event ids).",
            [prom("spark_streaming_states_rowsTotal", "{{query}}")],
            width=12,
        ),
        series(
            "Spark: lag and time since the last commit",
            "Source records behind each query's last committed batch, and seconds since that commit "
            "(from the checkpoints, read by the telemetry sampler).",
            [
                prom("shopstream_spark_query_lag_records", "{{query}} lag"),
                prom("time() - shopstream_spark_query_last_commit_timestamp_seconds", "{{query}} s", "B"),
            ],
            width=12,
        ),
        series(
            "KPI freshness",
            "Now minus the newest event counted in the KPI points in InfluxDB.",
            [prom("shopstream_kpi_freshness_seconds", "{{measurement}}")],
            "s",
            width=12,
        ),
        # --- producer ------------------------------------------------------------------------
        series(
            "Producer: sent, acknowledged, refused",
            "Events per second handed to Kafka, acknowledged, and refused before sending.",
            [
                prom(
                    f"sum by (program) (rate(shopstream_producer_events_sent_total{RATE}))",
                    "{{program}} sent",
                ),
                prom(
                    f"sum by (program) (rate(shopstream_producer_events_acked_total{RATE}))",
                    "{{program}} acked",
                    "B",
                ),
                prom(
                    f"sum by (program) (rate(shopstream_producer_events_refused_total{RATE}))",
                    "{{program}} refused",
                    "C",
                ),
            ],
            "rps",
            width=12,
        ),
        series(
            "Producer: acknowledgement latency",
            "produce() to acknowledgement, 50th and 95th percentile (sampled acknowledgements).",
            [
                prom(
                    "histogram_quantile(0.5, sum by (le, program) "
                    f"(rate(shopstream_producer_ack_latency_seconds_bucket{RATE})))",
                    "{{program}} p50",
                ),
                prom(
                    "histogram_quantile(0.95, sum by (le, program) "
                    f"(rate(shopstream_producer_ack_latency_seconds_bucket{RATE})))",
                    "{{program}} p95",
                    "B",
                ),
            ],
            "s",
            width=12,
        ),
    ]


def platform() -> Json:
    return dashboard(
        "shopstream-platform",
        "shopstream / Platform",
        "The platform's health from Prometheus: broker, Connect and the InfluxDB sink, Spark, the "
        "producer and the stack's services.",
        panels(),
    )
