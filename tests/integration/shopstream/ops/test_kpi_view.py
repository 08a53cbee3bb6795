"""KPIs read from the real KPI topics (Avro via the registry) and from the real InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from typer.testing import CliRunner

from shopstream.cli import app
from shopstream.clients.influx import InfluxClient, line
from shopstream.clients.kafka import client_config
from shopstream.clients.registry import client_conf
from shopstream.contracts import load_schema
from shopstream.ops.kpi_view import KpiSource, epoch_ms
from shopstream.settings import Settings

MIN = 60_000
T0 = 1_795_489_680_000


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _campaign(cid: str, start: int, clicks: int, purchases: int, revenue: int) -> dict[str, Any]:
    counts = {"views": 10 * clicks, "clicks": clicks, "add_to_carts": purchases, "purchases": purchases}
    return {
        "campaign_id": cid,
        "window_start": _at(start),
        "window_end": _at(start + MIN),
        **counts,
        "revenue_cents": revenue,
        "units": purchases,
        "conversion_rate": purchases / clicks,
        "avg_order_value_cents": revenue / purchases,
        "active_users": clicks,
    }


def _segment(gender: str, band: str, state: str, start: int, revenue: int, purchases: int) -> dict[str, Any]:
    return {
        "gender": gender, "age_band": band, "state": state, "window_start": _at(start),
        "window_end": _at(start + MIN), "revenue_cents": revenue, "purchases": purchases, "users": purchases,
    }  # fmt: skip


class KpiWriter:
    """Writes KPI records as the Spark job does: Confluent-framed Avro, key = dimensions|window start."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # a client timeout and TopicNameStrategy said explicitly: confluent-kafka's default first asks
        # an /associations API that Apicurio lacks, and a call without a timeout can hang forever
        registry = SchemaRegistryClient(client_conf(settings.registry, "admin"))
        conf = {"auto.register.schemas": False, "subject.name.strategy": topic_subject_name_strategy}
        self.serializers = {
            settings.topics.kpi_campaign: AvroSerializer(
                registry, load_schema("kpi_campaign.avsc"), conf=conf
            ),
            settings.topics.kpi_segment: AvroSerializer(registry, load_schema("kpi_segment.avsc"), conf=conf),
        }
        self.producer = Producer(client_config(settings.kafka, "admin"))

    def send(self, topic: str, record: dict[str, Any], dims: tuple[str, ...]) -> None:
        key = "|".join([*(str(record[d]) for d in dims), str(epoch_ms(record["window_start"]))])
        value = self.serializers[topic](record, SerializationContext(topic, MessageField.VALUE))
        self.producer.produce(topic, key=key.encode(), value=value)

    def campaign(self, record: dict[str, Any]) -> None:
        self.send(self.settings.topics.kpi_campaign, record, ("campaign_id",))

    def segment(self, record: dict[str, Any]) -> None:
        self.send(self.settings.topics.kpi_segment, record, ("gender", "age_band", "state"))

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


def test_kpis_from_kafka_keep_the_latest_record_per_key(isolated_topics: Settings, influx_db: str) -> None:
    s = isolated_topics
    assert CliRunner().invoke(app, ["schemas", "register"]).exit_code == 0
    writer = KpiWriter(s)
    writer.campaign(_campaign("cmp-001", T0, clicks=10, purchases=1, revenue=1_000))
    writer.campaign(_campaign("cmp-002", T0, clicks=5, purchases=1, revenue=500))
    writer.campaign(_campaign("cmp-001", T0, clicks=20, purchases=3, revenue=4_200))  # update of the window
    writer.campaign(_campaign("cmp-001", T0 + MIN, clicks=4, purchases=1, revenue=700))
    writer.segment(_segment("F", "25-34", "CA", T0, 100, 1))
    writer.segment(_segment("M", "35-44", "NY", T0, 300, 1))
    writer.segment(_segment("F", "25-34", "CA", T0, 900, 3))  # update of the segment's window
    writer.producer.produce(s.topics.kpi_campaign, key=b"cmp-009|0", value=b"junk")  # not Avro: skipped
    writer.flush()

    source = KpiSource(s, database=influx_db)  # the sink does not run: KPIs come from Kafka
    try:
        view = source.view(kpi_sinks_running=False, sink_installed=False)
        topics = f"{s.topics.kpi_campaign}, {s.topics.kpi_segment}"
        assert view.source == f"KPIs from Kafka topics {topics} (no InfluxDB sink deployed)"
        assert source.kafka is not None and len(source.kafka.campaigns.values()) == 3
        assert source.kafka.undecodable == 1
        assert [(c.campaign_id, c.revenue_cents, c.purchases, c.clicks) for c in view.top_campaigns] == [
            ("cmp-001", 4_900, 4, 24),
            ("cmp-002", 500, 1, 5),
        ]
        assert [(w.window_start_ms, w.revenue_cents, w.purchases) for w in view.windows] == [
            (T0, 4_700, 4),
            (T0 + MIN, 700, 1),
        ]
        assert view.window_ms == MIN
        assert [(g.value, g.revenue_cents, g.purchases) for g in view.by_gender] == [
            ("F", 900, 3),
            ("M", 300, 1),
        ]
        assert [(a.value, a.revenue_cents) for a in view.by_age_band] == [("25-34", 900), ("35-44", 300)]

        writer.campaign(_campaign("cmp-002", T0, clicks=8, purchases=2, revenue=800))  # read incrementally
        writer.flush()
        again = source.view(kpi_sinks_running=False, sink_installed=True)
        assert again.source.endswith("(the KPI sink connectors are not running)")
        assert [(c.campaign_id, c.revenue_cents) for c in again.top_campaigns] == [
            ("cmp-001", 4_900),
            ("cmp-002", 800),
        ]
        assert len(source.kafka.campaigns.values()) == 3
        running = source.view(kpi_sinks_running=True)  # the sinks run: InfluxDB, even while empty
        assert running.source == f"KPIs from InfluxDB (database {influx_db}): no KPI points yet"
        assert running.windows == [] and running.top_campaigns == []
    finally:
        source.close()


def test_kpis_come_from_influxdb_once_it_has_points(isolated_topics: Settings, influx_db: str) -> None:
    client = InfluxClient(isolated_topics.influxdb, influx_db, role="writer")  # as the sink writes them
    fields: dict[str, int | float | str | bool] = {
        "views": 100, "clicks": 20, "add_to_carts": 5, "purchases": 2, "revenue_cents": 2_500,
        "units": 2, "active_users": 9, "conversion_rate": 0.1, "avg_order_value_cents": 1250.0,
    }  # fmt: skip
    c7, c3 = {"campaign_id": "cmp-007"}, {"campaign_id": "cmp-003"}
    segment = {"gender": "X", "age_band": "65+", "state": "TX"}
    client.write(
        [
            line("kpi_campaign", c7, fields | {"revenue_cents": 999}, T0),
            line("kpi_campaign", c7, fields, T0),  # the same point again: it replaces the first
            line("kpi_campaign", c3, fields | {"revenue_cents": 100, "purchases": 1}, T0 + MIN),
            line("kpi_campaign", c3, fields, T0 - 30 * MIN),  # beyond the 10-window horizon
            line("kpi_segment", segment, {"revenue_cents": 2_600, "purchases": 3, "users": 3}, T0),
        ]
    )
    source = KpiSource(isolated_topics, database=influx_db)
    try:
        view = source.view(kpi_sinks_running=True)
        assert view.source == f"KPIs from InfluxDB (database {influx_db})"
        assert source.kafka is None  # Kafka was not read
        assert [(c.campaign_id, c.revenue_cents, c.purchases) for c in view.top_campaigns] == [
            ("cmp-007", 2_500, 2),
            ("cmp-003", 100, 1),
        ]
        assert [(w.window_start_ms, w.revenue_cents) for w in view.windows] == [(T0, 2_500), (T0 + MIN, 100)]
        assert view.conversion == 3 / 40
        assert [(g.value, g.revenue_cents, g.purchases) for g in view.by_gender] == [("X", 2_600, 3)]
        assert [(st.value, st.revenue_cents) for st in view.by_state] == [("TX", 2_600)]
    finally:
        source.close()
