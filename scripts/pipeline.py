"""The main job: the pipeline on the local stack, step by step, until Ctrl-C.

stack up -> contracts registered -> demographics loaded -> connectors deployed -> Spark job and
producer started as their own processes -> a line of topic counts every few seconds. Ctrl-C stops the
producer and the job cleanly (checkpoints kept) and leaves the stack up (`shopstream stack down`).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from scripts.settings import Settings
from spark_job.process import JobProcess, cli_command

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


def run_pipeline(settings: Settings, rate: float, duration: float | None, report: Report) -> None:
    steps = [
        ("stack", ("stack", "up")),
        ("contracts", ("schemas", "register")),
        ("contracts v2", ("schemas", "evolve")),
        ("demographics", ("demographics", "load")),
        ("connectors", ("connectors", "deploy")),
    ]
    for name, args in steps:
        report(f"[{name}] {' '.join(args)}")
        subprocess.run(cli_command(*args), check=True)
    logs = settings.state_dir / "logs"
    job = JobProcess([], logs / "spark-job.log")
    producer: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        report(f"[spark] job starting, log {job.log}")
        job.start()
        report(f"[producer] {rate:,.0f} events/s, log {logs / 'producer.log'}")
        producer = subprocess.Popen(
            cli_command("produce", "--rate", str(rate)),
            stdout=subprocess.DEVNULL,
            stderr=(logs / "producer.log").open("wb"),
            start_new_session=True,  # Ctrl-C reaches this process only; it stops the children in order
        )
        topics = settings.all_topics
        previous, last = topic_sizes(settings, topics), time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(5)
            if not job.running():
                raise RuntimeError(f"the Spark job exited; see {job.log}")
            sizes, now = topic_sizes(settings, topics), time.monotonic()
            rates = {t: (sizes[t] - previous[t]) / (now - last) for t in topics}
            report("  ".join(f"{t.split('.', 1)[-1]} {sizes[t]:,} (+{rates[t]:,.0f}/s)" for t in topics))
            previous, last = sizes, now
    except KeyboardInterrupt:
        report("stopping producer and Spark job (the stack stays up: `shopstream stack down`)")
    finally:
        if producer is not None and producer.poll() is None:
            producer.send_signal(signal.SIGINT)  # flushes and prints its summary
            producer.wait(timeout=60)
        job.stop(signal.SIGINT)
