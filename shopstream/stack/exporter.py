"""The stack exporter: what `shopstream stack status` sees, for Prometheus.

``python -m shopstream.stack.exporter`` (a service of the local stack, on 127.0.0.1:
``SHOPSTREAM_STACK_METRICS_PORT``) runs every service's health probe (the real API call of `stack
status`: MariaDB, InfluxDB and the registry have no metrics endpoint of their own) and reads the
supervisor's books, once per scrape interval in a thread, and serves the last results:

- ``shopstream_service_up{service}``: 1 when the probe answered, 0 when it failed;
- ``shopstream_service_probe_seconds{service}``: how long the probe took;
- ``shopstream_service_restarts{service}``, ``shopstream_service_gave_up{service}``: the supervision
  listener's restart count and whether it gave up on the service;
- ``shopstream_program_up{program}``: 1 while a pipeline program (Spark application, producer,
  sampler) runs or is being restarted by the supervisor, 0 once it is down for good.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shopstream.settings import Settings, load_settings
from shopstream.stack.stack import Stack


class StackCollector(Collector):
    def __init__(self, settings: Settings) -> None:
        self.stack = Stack(settings)
        self.services = {svc.name for svc in self.stack.services}
        self._lock = threading.Lock()
        self._families: list[GaugeMetricFamily] = []

    def refresh(self) -> None:
        up = GaugeMetricFamily(
            "shopstream_service_up", "The service's health probe answered", labels=["service"]
        )
        took = GaugeMetricFamily(
            "shopstream_service_probe_seconds", "How long the health probe took", labels=["service"]
        )
        restarts = GaugeMetricFamily(
            "shopstream_service_restarts", "Restarts by the supervisor since the last start by hand",
            labels=["service"],
        )  # fmt: skip
        gave_up = GaugeMetricFamily(
            "shopstream_service_gave_up", "The supervisor gave up restarting it", labels=["service"]
        )
        for svc in self.stack.services:
            began = time.monotonic()
            try:
                svc.probe()
                healthy = 1.0
            except Exception:  # any failure of the probe (ShopstreamError naming the address, or other): down
                healthy = 0.0
            up.add_metric([svc.name], healthy)
            took.add_metric([svc.name], time.monotonic() - began)
            record = self.stack.supervisor.record(svc.name)
            restarts.add_metric([svc.name], record.restarts if record else 0)
            gave_up.add_metric([svc.name], 1.0 if record and record.gave_up else 0.0)
        programs = GaugeMetricFamily(
            "shopstream_program_up",
            "A pipeline program runs, or the supervisor is bringing it back",
            labels=["program"],
        )
        for name in self.stack.supervisor.programs():
            if name not in self.services:
                programs.add_metric([name], 1.0 if self.stack.supervisor.failure(name) is None else 0.0)
        stamp = GaugeMetricFamily("shopstream_stack_exporter_refreshed_timestamp_seconds", "Last refresh")
        stamp.add_metric([], time.time())
        with self._lock:
            self._families = [up, took, restarts, gave_up, programs, stamp]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            yield from self._families


def main() -> None:
    settings = load_settings()
    collector = StackCollector(settings)
    registry = CollectorRegistry()
    registry.register(collector)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server, _thread = start_http_server(
        settings.monitoring.stack_metrics_port, addr="127.0.0.1", registry=registry
    )
    collector.refresh()  # serving already: its own probe (a GET of this endpoint) answers
    while not stop.wait(settings.prometheus.scrape_interval_s):
        collector.refresh()
    server.shutdown()


if __name__ == "__main__":
    main()
