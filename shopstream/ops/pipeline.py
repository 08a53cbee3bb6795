"""The main job: the pipeline on the local stack, step by step, until Ctrl-C.

stack up -> contracts registered -> demographics loaded -> connectors deployed -> Spark job and
producer started as their own processes -> the live view of every stage and the KPIs
(scripts/live_view.py). Ctrl-C stops the producer and the job cleanly (checkpoints kept) and leaves
the stack up (`shopstream stack down`).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

from shopstream.clients.connect import ConnectClient
from shopstream.ops import demographics, schemas
from shopstream.ops.connectors import deploy, load_specs
from shopstream.ops.jobs import cli_command, job_processes
from shopstream.ops.live_view import watch
from shopstream.settings import Settings
from shopstream.stack.stack import Stack

Report = Callable[[str], None]


def prepare(settings: Settings, report: Report) -> None:
    """Everything the job and the producer need: the stack up, contracts registered (v1, then v2),
    the demographics loaded, the connectors deployed."""
    report("[stack] up")
    Stack(settings).up()
    report("[contracts] register, evolve")
    schemas.register(settings, report)
    schemas.evolve(settings, report)
    report("[demographics] load")
    report(demographics.summary(settings, demographics.load(settings)))
    report("[connectors] deploy")
    for line in deploy(ConnectClient(settings.connect_url), load_specs(settings)):
        report(line)


def run_pipeline(settings: Settings, rate: float, duration: float | None, report: Report) -> None:
    prepare(settings, report)
    logs = settings.state_dir / "logs"
    jobs = job_processes([], logs, ui_port=settings.spark_ui_port)
    producer: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    try:
        for job in jobs:
            report(f"[spark] {' '.join(job.args)}: starting, log {job.log}")
            job.start()
        report(f"[producer] {rate:,.0f} events/s, log {logs / 'producer.log'}")
        producer = subprocess.Popen(
            cli_command("produce", "--rate", str(rate)),
            stdout=subprocess.DEVNULL,
            stderr=(logs / "producer.log").open("wb"),
            start_new_session=True,  # Ctrl-C reaches this process only; it stops the children in order
        )

        def keep_going() -> bool:
            for job in jobs:
                if not job.running():
                    raise RuntimeError(f"the Spark job exited; see {job.log}")
            return duration is None or time.monotonic() - started < duration

        watch(settings, keep_going, subtitle=f"producer {rate:,.0f} events/s  (Ctrl-C stops)")
    except KeyboardInterrupt:
        report("stopping producer and Spark job (the stack stays up: `shopstream stack down`)")
    finally:
        if producer is not None and producer.poll() is None:
            producer.send_signal(signal.SIGINT)  # flushes and prints its summary
            producer.wait(timeout=60)
        for job in jobs:
            job.stop(signal.SIGINT)
