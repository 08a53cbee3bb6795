"""The producer's metrics for Prometheus (``shopstream produce`` serves them on 127.0.0.1:
``SHOPSTREAM_PRODUCER_METRICS_PORT``, or a free port when a second producer runs, and registers the
target with the local Prometheus):

- ``shopstream_producer_events_sent_total``: handed to librdkafka;
- ``shopstream_producer_events_acked_total``, ``..._failed_total``: delivery reports without and with
  an error;
- ``shopstream_producer_events_refused_total{reason="schema"|"rule"}``: refused before sending (not
  fitting the writer schema, breaking a business rule);
- ``shopstream_producer_bytes_sent_total``, ``shopstream_producer_broker_errors_total``;
- ``shopstream_producer_ack_latency_seconds``: produce() to acknowledgement, a histogram of one
  acknowledgement in ``ACK_SAMPLE`` (what the producer's own percentiles sample).

The counters are read from the sender's own counts when Prometheus scrapes: nothing is added to the
send path but one histogram observation per sampled acknowledgement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from producer.sender import EventSender
from shopstream.metrics import Endpoint, serve
from shopstream.settings import Settings

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ProducerCollector(Collector):
    def __init__(self, sender: EventSender) -> None:
        self.sender = sender

    def collect(self) -> Iterator[CounterMetricFamily]:
        c = self.sender.counters

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"shopstream_producer_{name}", doc, value=value)

        yield counter("events_sent", "Events handed to librdkafka", c.sent)
        yield counter("events_acked", "Events acknowledged by the brokers", c.acked)
        yield counter("events_failed", "Events whose delivery failed", c.failed)
        refused = CounterMetricFamily(
            "shopstream_producer_events_refused",
            "Events refused before sending: not fitting the schema, or breaking a business rule",
            labels=["reason"],
        )
        rules = sum(c.violations.values())
        refused.add_metric(["rule"], rules)
        refused.add_metric(["schema"], c.invalid - rules)
        yield refused
        yield counter("bytes_sent", "Avro payload bytes handed to librdkafka", c.value_bytes)
        yield counter(
            "broker_errors", "Errors librdkafka reported about the brokers", self.sender.broker_errors
        )


def serve_producer_metrics(settings: Settings, sender: EventSender) -> Endpoint | None:
    """Serve the sender's metrics and register the target (None with monitoring off)."""
    if not settings.monitoring.enabled:
        return None
    registry = CollectorRegistry()
    registry.register(ProducerCollector(sender))
    latency = Histogram(
        "shopstream_producer_ack_latency_seconds",
        "produce() to acknowledgement, one acknowledgement in 16",
        buckets=ACK_BUCKETS,
        registry=registry,
    )
    sender.on_ack_latency = latency.observe
    name = os.environ.get("SUPERVISOR_PROCESS_NAME") or f"produce-{os.getpid()}"
    return serve(
        settings,
        registry,
        settings.monitoring.producer_metrics_port,
        "producer",
        name,
        {"topic": sender.topic},
    )
