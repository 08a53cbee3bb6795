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

from scripts.live_view import watch
from scripts.settings import Settings
from spark_job.process import cli_command, job_processes

Report = Callable[[str], None]


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
