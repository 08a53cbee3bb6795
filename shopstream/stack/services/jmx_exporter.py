"""Prometheus' JMX exporter as a Java agent of the broker and of the Connect worker.

The agent serves the JVM's MBeans in Prometheus' text format on 127.0.0.1, filtered and renamed by
the checked-in rules of ``monitoring/jmx/<service>.yml`` (the same files Compose mounts). With
``SHOPSTREAM_MONITORING=false`` there is no agent.
"""

from __future__ import annotations

from shopstream.resources import project_file
from shopstream.stack.services.base import StackContext


def jmx_exporter_agent(ctx: StackContext, service: str, port: int) -> list[str]:
    """The ``-javaagent:`` value (``jar=host:port:config``) of the service's exporter, if any."""
    if not ctx.settings.monitoring.enabled:
        return []
    config = project_file("monitoring", "jmx", f"{service}.yml")
    return [f"{ctx.artifacts.jmx_exporter_agent}=127.0.0.1:{port}:{config}"]
