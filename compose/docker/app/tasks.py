"""Container-only tasks of the Compose stack that the `shopstream` CLI has no command for.

``topics`` creates the project's topics, as `shopstream stack up` does on the local stack (the broker
does not auto-create topics). ``health-spark`` and ``health-producer`` are the healthchecks of those
containers: each asks the running thing a real question and exits 1 when the answer is wrong.

    python compose/docker/app/tasks.py topics | health-spark | health-producer
"""

from __future__ import annotations

import sys
import time

import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from compose.stack.services.base import StackContext
from compose.stack.services.kafka import ensure_topics
from scripts.settings import Settings, get_settings


def topics(settings: Settings) -> str:
    created = ensure_topics(StackContext(settings))
    return f"topics created: {', '.join(created) or 'none (all exist)'}"


def health_spark(settings: Settings) -> str:
    """The driver's UI lists the running application (the UI is bound to the container's loopback)."""
    url = f"http://127.0.0.1:{settings.spark_ui_port}/api/v1/applications"
    apps = requests.get(url, timeout=5).json()
    if not apps:
        raise RuntimeError(f"{url} lists no application")
    return f"spark application {apps[0]['id']} running"


def _end_offsets(settings: Settings, topic: str) -> int:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    partitions = admin.list_topics(topic, timeout=5).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "healthcheck"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in partitions)
    finally:
        consumer.close()


def health_producer(settings: Settings) -> str:
    """The events topic grows: the producer is sending and the broker is taking its records."""
    before = _end_offsets(settings, settings.topic_events)
    time.sleep(3)
    after = _end_offsets(settings, settings.topic_events)
    if after <= before:
        raise RuntimeError(f"{settings.topic_events} did not grow in 3 s (end offset {after})")
    return f"{settings.topic_events}: +{after - before} records in 3 s"


TASKS = {"topics": topics, "health-spark": health_spark, "health-producer": health_producer}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TASKS:
        print(f"usage: tasks.py {{{'|'.join(TASKS)}}}", file=sys.stderr)
        return 2
    try:
        print(TASKS[argv[0]](get_settings()))
    except Exception as exc:  # a healthcheck reports any failure as unhealthy, with its reason
        print(f"{argv[0]} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
