"""`shopstream produce` and `shopstream bench producer`."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from producer.metrics import serve_producer_metrics
from producer.run import RunLimits, run
from producer.sender import EventSender, SerializerKind
from producer.traffic import Resends, TrafficConfig, TrafficModel
from shopstream.cli.common import emit_result, err, out, settings_of


def produce(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Events per second; 0 = as fast as possible.", min=0)] = 1000,
    count: Annotated[int | None, typer.Option(help="Stop after this many events.", min=0)] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    schema_version: Annotated[int, typer.Option(help="Writer schema version: 1 or 2.", min=1, max=2)] = 2,
    topic: Annotated[str | None, typer.Option(help="Topic (default: SHOPSTREAM_TOPIC_EVENTS).")] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed of the traffic model (default: random; a seed replays event ids)."),
    ] = None,
    users: Annotated[int, typer.Option(help="User ids are drawn from 1..USERS.", min=1)] = 100_000,
    purchase_given_cart: Annotated[
        float,
        typer.Option(
            help="Base P(purchase | add_to_cart): the funnel's last step, per campaign around it. "
            "(The conversion KPI is purchases / clicks.)",
            min=0,
            max=1,
        ),
    ] = 0.5,
    serializer: Annotated[
        str, typer.Option(help="compiled (fast, byte-identical) or confluent (AvroSerializer).")
    ] = "compiled",
    stats_interval: Annotated[float, typer.Option(help="Seconds between stats lines.", min=0.1)] = 5.0,
    resend: Annotated[
        float,
        typer.Option(
            help="Fraction of the events sent twice, the same bytes (at-least-once sources: the KPIs must "
            "count them once).",
            min=0,
            max=1,
        ),
    ] = 0.0,
    resend_after: Annotated[
        float, typer.Option(help="Seconds between an event and its copy (at the send rate).", min=0)
    ] = 30.0,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the JSON summary to this file (for a program that waits).")
    ] = None,
) -> None:
    """Send synthetic shop events (Avro, registered schema) to Kafka; Ctrl-C flushes and summarises."""
    if serializer not in ("compiled", "confluent"):
        raise typer.BadParameter("serializer must be 'compiled' or 'confluent'")
    kind: SerializerKind = "compiled" if serializer == "compiled" else "confluent"
    settings = settings_of(ctx)
    sender = EventSender(settings, topic=topic, schema_version=schema_version, serializer=kind)
    seed = random.randrange(2**32) if seed is None else seed
    config = TrafficConfig(
        seed=seed,
        users=users,
        purchase_probability=purchase_given_cart,
        schema_version=schema_version,
        events_per_second=rate or 100_000,  # event time keeps pace with the send rate
    )
    if kind == "compiled":
        sender.verify_against_reference(TrafficModel(config).take(500))
    err.print(
        f"producing to {sender.topic} with schema v{schema_version} (id {sender.schema_id}), "
        f"{'max' if rate == 0 else f'{rate:,.0f}/s'}, serializer {sender.serializer_kind}, seed {seed}"
    )
    limits = RunLimits(rate=rate, count=count, duration_s=duration, stats_interval_s=stats_interval)
    endpoint = serve_producer_metrics(settings, sender)  # Prometheus' target while it runs
    resends = Resends(resend, int((rate or 100_000) * resend_after), seed=seed)
    try:
        result = run(sender, resends.apply(TrafficModel(config).events()), limits, report=err.print)
    finally:
        if endpoint is not None:
            endpoint.close()
    summary = result.summary(resent=resends.sent)
    out.print_json(summary.model_dump_json())
    if summary_json is not None:
        summary_json.write_text(summary.model_dump_json(indent=1))
    if summary.failed or summary.acked != summary.sent:
        raise typer.Exit(1)


def bench_producer(
    ctx: typer.Context,
    count: Annotated[int, typer.Option(help="Events per side.", min=1000)] = 1_000_000,
    schema_version: Annotated[int, typer.Option(help="Writer schema version.", min=1, max=2)] = 2,
    serializer: Annotated[str, typer.Option(help="compiled or confluent.")] = "compiled",
    partitions: Annotated[int, typer.Option(help="Partitions of the bench topics.", min=1)] = 3,
    json_out: Annotated[Path | None, typer.Option(help="Also write the JSON result here.")] = None,
) -> None:
    """Acked events/s and MB/s of our producer vs Kafka's ProducerPerformance, same broker and run."""
    from shopstream.bench.producer import bench_producer as run_bench
    from shopstream.clients.endpoints import require

    kind: SerializerKind = "confluent" if serializer == "confluent" else "compiled"
    settings = settings_of(ctx)
    require(settings, "kafka", "registry")
    with err.status(f"benchmarking {count:,} events per side"):
        result = run_bench(settings, count, schema_version, kind, partitions)
    table = Table(title=f"producer benchmark, {result['record_size_bytes']} B/record")
    for column in ("producer", "records", "seconds", "records/s", "MB/s"):
        table.add_column(column)
    for side in ("shopstream", "kafka_producer_performance"):
        fig = result[side]
        table.add_row(
            fig["name"],
            f"{fig['records']:,}",
            f"{fig['seconds']:.2f}",
            f"{fig['records_per_s']:,.0f}",
            f"{fig['mb_per_s']:.2f}",
        )
    table.caption = f"ratio (records/s): {result['ratio_records']}"
    err.print(table)
    emit_result(result, json_out)
