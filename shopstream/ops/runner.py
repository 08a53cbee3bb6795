"""The main job: the pipeline on the local stack, step by step, until Ctrl-C.

stack up -> contracts registered -> demographics loaded -> connectors deployed (the CDC source and
the InfluxDB sinks; function calls) -> the Spark job, the telemetry sampler and the producer started
as programs of the stack's supervisor (shopstream/ops/jobs.py) -> the live view of every stage and
the KPIs (shopstream/ops/live_view.py). Ctrl-C stops the producer, the job and the sampler cleanly
(checkpoints kept) and leaves the stack and the connectors up (`shopstream stack down`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shopstream.clients.connect import ConnectClient
from shopstream.errors import ProcessFailed
from shopstream.ops import demographics, registration
from shopstream.ops.deploy import deploy, load_specs
from shopstream.ops.jobs import PRODUCER, Job, spark_jobs, telemetry_job
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
    registration.register(settings, report)
    registration.evolve(settings, report)
    report("[demographics] load")
    report(demographics.summary(settings, demographics.load(settings)))
    report("[connectors] deploy")
    for line in deploy(ConnectClient(settings.connect), load_specs(settings)):
        report(line)


def run_pipeline(settings: Settings, rate: float, duration: float | None, report: Report) -> None:
    """Prepare, start the Spark job and the producer under the stack's supervisor, then the live view
    until Ctrl-C (or ``duration``); the producer and the job are stopped, the stack stays up."""
    prepare(settings, report)
    jobs: list[Job] = [*spark_jobs(settings, []), telemetry_job(settings)]
    producer = Job(settings, "producer", ["produce", "--rate", str(rate)], given=PRODUCER)
    started = time.monotonic()
    try:
        for job in jobs:
            report(f"[{job.name}] {' '.join(job.args)}: starting, log {job.log}")
            job.start()
        report(f"[producer] {rate:,.0f} events/s, log {producer.log}")
        producer.start()

        def keep_going() -> bool:
            for job in [*jobs, producer]:
                if not job.alive():  # a crash the supervisor restarts is not the end of the run
                    raise ProcessFailed(f"{job.name} exited", f"see {job.log}")
            return duration is None or time.monotonic() - started < duration

        # the sampler writes the telemetry; the view only reads
        subtitle = f"producer {rate:,.0f} events/s  (Ctrl-C stops)"
        watch(settings, keep_going, telemetry=False, subtitle=subtitle)
    except KeyboardInterrupt:
        report("stopping producer, Spark job and telemetry (the stack stays up: `shopstream stack down`)")
    finally:
        producer.remove()  # SIGTERM: it flushes and logs its summary
        for job in jobs:
            job.remove()
