"""`shopstream compose topics | health-spark | health-producer`: the Docker Compose stack's tasks."""

from __future__ import annotations

import typer

from shopstream.cli.common import out, settings_of
from shopstream.ops import compose_tasks

app = typer.Typer(
    help="Tasks of the Docker Compose stack's containers (compose/docker-compose.yml): the init job's "
    "topics and the healthchecks of the Spark job and the producer."
)


@app.command()
def topics(ctx: typer.Context) -> None:
    """Create the project's topics that do not exist yet (`stack up` does this on the local stack)."""
    out.print(compose_tasks.topics(settings_of(ctx)))


@app.command("health-spark")
def health_spark(ctx: typer.Context) -> None:
    """Healthcheck: the Spark driver's UI lists the running application; exit 1 otherwise."""
    out.print(compose_tasks.health_spark(settings_of(ctx)))


@app.command("health-producer")
def health_producer(ctx: typer.Context) -> None:
    """Healthcheck: the events topic grows within 3 s; exit 1 otherwise."""
    out.print(compose_tasks.health_producer(settings_of(ctx)))
