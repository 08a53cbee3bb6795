"""`shopstream spark run`: the streaming job until Ctrl-C (or --duration)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console

from compose.stack.errors import MissingPrerequisite
from scripts.settings import get_settings

app = typer.Typer(help="The PySpark Structured Streaming job (decode, enrich, windowed KPIs).")
err = Console(stderr=True, soft_wrap=True)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@app.command("run")
def run(
    master: Annotated[
        str | None, typer.Option(help="Spark master (default SHOPSTREAM_SPARK_MASTER).")
    ] = None,
    trigger: Annotated[float | None, typer.Option(help="Micro-batch interval in seconds.", min=0)] = None,
    starting_offsets: Annotated[
        str, typer.Option(help="earliest or latest (first start only).")
    ] = "earliest",
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Default: <state dir>/spark/checkpoints.")
    ] = None,
    window: Annotated[str | None, typer.Option(help="KPI window, e.g. '1 minute'.")] = None,
    watermark: Annotated[str | None, typer.Option(help="Allowed lateness, e.g. '2 minutes'.")] = None,
    max_offsets_per_trigger: Annotated[int | None, typer.Option(help="Cap records per micro-batch.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Run the three streaming queries; Ctrl-C/SIGTERM stops them cleanly (checkpoints kept)."""
    if starting_offsets not in ("earliest", "latest"):
        raise typer.BadParameter("--starting-offsets must be earliest or latest")
    settings = get_settings()
    from spark_job.job import JobOptions, StreamingJob
    from spark_job.session import spark_session

    options = JobOptions(
        checkpoint_dir=checkpoint_dir or settings.state_dir / "spark" / "checkpoints",
        starting_offsets=starting_offsets,
        trigger_s=settings.spark_trigger_s if trigger is None else trigger,
        window=window or settings.spark_window,
        watermark=watermark or settings.spark_watermark,
        max_offsets_per_trigger=max_offsets_per_trigger,
    )
    try:
        with err.status("starting Spark"):
            spark = spark_session(settings, master=master)
            job = StreamingJob(spark, settings, options)
            queries = job.start()
    except (MissingPrerequisite, RuntimeError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    err.print(
        f"running {', '.join(q.name for q in queries)} on {spark.sparkContext.master}; "
        f"UI http://127.0.0.1:{settings.spark_ui_port}; checkpoints {options.checkpoint_dir}"
    )
    signal.signal(signal.SIGTERM, _interrupt)
    deadline = time.monotonic() + duration if duration else None
    try:
        while deadline is None or time.monotonic() < deadline:
            for query in queries:
                if query.exception() is not None:
                    raise RuntimeError(f"query {query.name} failed: {query.exception()}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        err.print("stopping")
    except RuntimeError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    finally:
        for query in queries:
            query.stop()
        spark.stop()
