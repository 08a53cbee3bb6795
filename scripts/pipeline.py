"""The main job: the pipeline on the local stack, step by step, until Ctrl-C.

stack up -> contracts registered -> demographics loaded -> connectors deployed -> Spark job and
producer started as their own processes -> a line of topic counts every few seconds. Ctrl-C stops the
producer and the job cleanly (checkpoints kept) and leaves the stack up (`shopstream stack down`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from scripts.settings import Settings

Report = Callable[[str], None]


def topic_sizes(settings: Settings, topics: list[str]) -> dict[str, int]:
    """Records in each topic (end minus start offsets over its partitions)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "shopstream-sizes"}
    )
    try:
        metadata = admin.list_topics(timeout=10)
        sizes = {}
        for topic in topics:
            total = 0
            for partition in metadata.topics[topic].partitions if topic in metadata.topics else {}:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                total += high - low
            sizes[topic] = total
        return sizes
    finally:
        consumer.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "scripts.cli", *args]


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 90) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run_pipeline(settings: Settings, rate: float, duration: float | None, report: Report) -> None:
    steps = [
        ("stack", _cli("stack", "up")),
        ("contracts", _cli("schemas", "register")),
        ("contracts v2", _cli("schemas", "evolve")),
        ("demographics", _cli("demographics", "load")),
        ("connectors", _cli("connectors", "deploy")),
    ]
    for name, cmd in steps:
        report(f"[{name}] {' '.join(cmd[3:])}")
        subprocess.run(cmd, check=True)
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    job = subprocess.Popen(
        _cli("spark", "run"),
        stdout=subprocess.DEVNULL,
        stderr=(logs / "spark-job.log").open("wb"),
        start_new_session=True,
    )
    producer: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        report(f"[spark] job starting, log {logs / 'spark-job.log'}")
        while "running enrich" not in (logs / "spark-job.log").read_text(errors="replace"):
            if job.poll() is not None:
                raise RuntimeError(f"the Spark job exited; see {logs / 'spark-job.log'}")
            time.sleep(1)
        report(f"[producer] {rate:,.0f} events/s, log {logs / 'producer.log'}")
        producer = subprocess.Popen(
            _cli("produce", "--rate", str(rate)),
            stdout=subprocess.DEVNULL,
            stderr=(logs / "producer.log").open("wb"),
            start_new_session=True,
        )
        topics = [
            settings.topic_events,
            settings.topic_enriched,
            settings.topic_events_dlq,
            settings.topic_kpi_campaign,
            settings.topic_kpi_segment,
            settings.topic_demographics,
        ]
        previous = topic_sizes(settings, topics)
        last = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(5)
            if job.poll() is not None:
                raise RuntimeError(f"the Spark job exited; see {logs / 'spark-job.log'}")
            sizes, now = topic_sizes(settings, topics), time.monotonic()
            rates = {t: (sizes[t] - previous[t]) / (now - last) for t in topics}
            report("  ".join(f"{t.split('.', 1)[-1]} {sizes[t]:,} (+{rates[t]:,.0f}/s)" for t in topics))
            previous, last = sizes, now
    except KeyboardInterrupt:
        report("stopping producer and Spark job (the stack stays up: `shopstream stack down`)")
    finally:
        _stop(producer, 30)
        _stop(job)
