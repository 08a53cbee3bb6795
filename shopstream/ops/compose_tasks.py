"""Tasks of the Docker Compose stack's containers that the local stack does otherwise.

``topics`` creates the project's topics, as `shopstream stack up` does on the local stack (the broker
does not auto-create topics). ``health_spark`` and ``health_producer`` are the healthchecks of those
containers: each asks the running thing a real question and fails when the answer is wrong.
"""

from __future__ import annotations

import time

import requests

from shopstream.clients.kafka import end_offset_total
from shopstream.clients.kafka_acls import ensure_pipeline
from shopstream.errors import ShopstreamError
from shopstream.settings import Settings


class Unhealthy(ShopstreamError):
    """A container's healthcheck failed."""


def topics(settings: Settings) -> str:
    created = ensure_pipeline(settings)
    return f"topics created: {', '.join(created) or 'none (all exist)'}"


def health_spark(settings: Settings) -> str:
    """The driver's UI lists the running application (the UI is bound to the container's loopback)."""
    url = f"http://127.0.0.1:{settings.spark.ui_port}/api/v1/applications"
    try:
        apps = requests.get(url, timeout=5).json()
    except requests.RequestException as exc:
        raise Unhealthy(f"{url} did not answer ({type(exc).__name__})") from exc
    if not apps:
        raise Unhealthy(f"{url} lists no application")
    return f"spark application {apps[0]['id']} running"


def health_producer(settings: Settings) -> str:
    """The events topic grows: the producer is sending and the broker is taking its records."""
    before = end_offset_total(settings.kafka, settings.topics.events, role="producer")  # its container's only
    time.sleep(3)
    after = end_offset_total(settings.kafka, settings.topics.events, role="producer")
    if after <= before:
        raise Unhealthy(f"{settings.topics.events} did not grow in 3 s (end offset {after})")
    return f"{settings.topics.events}: +{after - before} records in 3 s"
