"""Load for the InfluxDB sink connector: realistic Avro records, and the exact points the sink writes
for them (line protocol), both derived from a connector file in ``connectors/`` and its topic's Avro
contract. Shared by ``bench sink`` and the sink's integration tests.

``SinkMapping`` reproduces the connector's documented mapping (connectors/influxdb-sink/README.md):
tags from ``tags.fields`` (sorted, null/empty left out), every other value field except the event
time field and ``fields.exclude`` as a field (nulls left out; long/int as integers, double as
floats, strings quoted), the time from ``event.time.fieldname`` (epoch ms) in
``influxdb.precision``, plus the ``event.time.disambiguate.field`` offset: the first 8 bytes of
SHA-256 of the value's UTF-8, unsigned, modulo the precision steps in one millisecond.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import struct
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import KafkaError, Message, Producer

from shopstream.clients.influx import escape_tag, field_value
from shopstream.clients.kafka import client_config
from shopstream.contracts import CONTRACTS, Contract, load_schema, schema_fields
from shopstream.errors import ContractError, KafkaUnavailable
from shopstream.ops.connectors import connectors_dir
from shopstream.settings import Settings

Record = dict[str, Any]
_SETTING = "${settings:"
# ns per unit of influxdb.precision; event times are Connect Timestamps: epoch ms
_PRECISION_PER_MS = {"ns": 1_000_000, "us": 1_000, "ms": 1}


def _listed(config: Mapping[str, str], key: str) -> list[str]:
    return [name.strip() for name in config.get(key, "").split(",") if name.strip()]


def _setting_name(value: str) -> str | None:
    """``topic_enriched`` of ``${settings:topic_enriched}``; None for a literal."""
    if value.startswith(_SETTING) and value.endswith("}"):
        return value[len(_SETTING) : -1]
    return None


@dataclass(frozen=True)
class SinkMapping:
    """What one sink connector file writes for the records of its topic."""

    connector_file: Path
    raw_config: dict[str, str]  # as in the file (placeholders unresolved)
    contract: Contract

    @classmethod
    def of(cls, connector_file: str | Path) -> SinkMapping:
        path = Path(connector_file)
        if not path.is_absolute():
            path = connectors_dir() / path
        config: dict[str, str] = json.loads(path.read_text())["config"]
        topic_setting = _setting_name(config.get("topics", ""))
        contract = next((c for c in CONTRACTS if f"topic_{c.topic.value}" == topic_setting), None)
        if contract is None:
            raise ContractError(
                f"{path.name}: topics must be a ${{settings:topic_...}} with an Avro contract"
            )
        precision = config.get("influxdb.precision", "ns")
        if precision not in _PRECISION_PER_MS:
            raise ContractError(f"{path.name}: influxdb.precision {precision} is not supported here")
        return cls(path, config, contract)

    # --- from the config --------------------------------------------------------------------------
    @property
    def schema_file(self) -> str:
        """The Avro contract's latest version: what the pipeline writes to the topic."""
        return self.contract.files[-1]

    @property
    def topic_setting(self) -> str:
        return f"topic_{self.contract.topic.value}"

    @property
    def dlq_setting(self) -> str | None:
        return _setting_name(self.raw_config.get("errors.deadletterqueue.topic.name", ""))

    @property
    def measurement(self) -> str:
        return self.raw_config["measurement.name.format"]

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(sorted(_listed(self.raw_config, "tags.fields")))

    @property
    def time_field(self) -> str:
        return self.raw_config["event.time.fieldname"]

    @property
    def precision(self) -> str:
        return self.raw_config.get("influxdb.precision", "ns")

    @property
    def disambiguate(self) -> str | None:
        return self.raw_config.get("event.time.disambiguate.field") or None

    @property
    def rp_setting(self) -> str | None:
        return _setting_name(self.raw_config.get("influxdb.rp", ""))

    @property
    def rp_duration_setting(self) -> str | None:
        return _setting_name(self.raw_config.get("influxdb.rp.duration", ""))

    @cached_property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """(name, Avro type) of the value fields written as fields, in schema order."""
        skip = {*self.tags, self.time_field, *_listed(self.raw_config, "fields.exclude")}
        return tuple(
            (f["name"], _base_type(f["type"]))
            for f in schema_fields(self.schema_file)
            if f["name"] not in skip
        )

    @property
    def count_field(self) -> str:
        """A field every point has (not nullable): ``count()`` of it counts the points."""
        nullable = {f["name"] for f in schema_fields(self.schema_file) if isinstance(f["type"], list)}
        return next(name for name, _ in self.fields if name not in nullable)

    @property
    def integer_fields(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.fields if kind in ("int", "long"))

    @cached_property
    def parsed_schema(self) -> Any:
        return fastavro.parse_schema(json.loads(load_schema(self.schema_file)))

    def qualified(self, settings: Settings) -> str:
        """The measurement as InfluxQL names it: ``"rp"."name"`` or ``"name"``."""
        rp = str(getattr(settings, self.rp_setting)) if self.rp_setting else ""
        return f'"{rp}"."{self.measurement}"' if rp else f'"{self.measurement}"'

    def rp(self, settings: Settings) -> str:
        return str(getattr(settings, self.rp_setting)) if self.rp_setting else ""

    def rp_duration(self, settings: Settings) -> str:
        return str(getattr(settings, self.rp_duration_setting)) if self.rp_duration_setting else ""

    # --- records -> points ------------------------------------------------------------------------
    def time_of(self, record: Mapping[str, Any]) -> int:
        """The point's time in the write precision, as the connector computes it."""
        per_ms = _PRECISION_PER_MS[self.precision]
        time = int(record[self.time_field]) * per_ms
        if self.disambiguate:
            digest = hashlib.sha256(str(record[self.disambiguate]).encode()).digest()
            time += int.from_bytes(digest[:8], "big") % per_ms
        return time

    def point(self, record: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any], int]:
        """(tags, fields, time) of the point the sink writes for the record."""
        tags = {k: str(record[k]) for k in self.tags if record.get(k) not in (None, "")}
        fields = {name: record[name] for name, _ in self.fields if record.get(name) is not None}
        return tags, fields, self.time_of(record)

    def line(self, record: Mapping[str, Any]) -> str:
        """The record's point in line protocol (tags sorted, time in the write precision)."""
        tags, fields, time = self.point(record)
        tag_part = "".join(f",{k}={escape_tag(v)}" for k, v in tags.items())
        field_part = ",".join(f"{k}={field_value(v)}" for k, v in fields.items())
        return f"{self.measurement}{tag_part} {field_part} {time}"

    def avro(self, record: Mapping[str, Any], schema_id: int) -> bytes:
        """The record in the Confluent wire format: magic byte, 4-byte schema id, Avro body."""
        out = io.BytesIO()
        out.write(struct.pack(">bI", 0, schema_id))
        fastavro.schemaless_writer(out, self.parsed_schema, dict(record))
        return out.getvalue()


def _base_type(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        return _base_type(next(t for t in avro_type if t != "null"))
    if isinstance(avro_type, dict):
        return str(avro_type["type"])
    return str(avro_type)


# --- realistic records ------------------------------------------------------------------------------
_TAGS = (("view", 0.62), ("click", 0.24), ("add_to_cart", 0.09), ("purchase", 0.05))
_DEVICES = ("mobile", "desktop", "tablet")
_CATEGORIES = ("books", "electronics", "fashion", "garden", "grocery", "home", "sports", "toys")


def enriched_records(count: int, seed: int, start_ms: int, span_ms: int) -> Iterator[Record]:
    """``count`` enriched events with distinct event ids and event times rising evenly over
    [start_ms, start_ms + span_ms): users 1..100,000 enriched with the seeded demographics the
    loader writes (1 in 20 events from an unknown user, without enrichment), 12 campaigns, the
    funnel's four steps, purchases with an order, amount and units."""
    from shopstream.contracts import age_bands
    from shopstream.ops.demographics import generate

    rng = random.Random(seed)
    people = {row[0]: row for row in generate(100_000, 42)}
    bands = age_bands()
    tags = [tag for tag, _ in _TAGS]
    weights = [weight for _, weight in _TAGS]
    step = span_ms / max(count, 1)
    for i in range(count):
        event_time = start_ms + int(i * step)
        tag = rng.choices(tags, weights)[0]
        known = rng.random() >= 0.05
        user = rng.randint(1, 100_000) if known else rng.randint(100_001, 200_000)
        person = people.get(user)
        purchase = tag == "purchase"
        units = rng.randint(1, 4) if purchase else 0
        yield {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "event_time": event_time,
            "user_id": user,
            "session_id": f"s-{user}-{event_time // 1_800_000}",
            "campaign_id": f"cmp-{rng.randrange(12):03d}",
            "tag": tag,
            "order_id": f"o-{rng.getrandbits(48):012x}" if purchase else None,
            "sku": f"sku-{rng.randrange(2000):04d}",
            "category": rng.choice(_CATEGORIES),
            "total_amount_cents": units * rng.randint(299, 19_999) if purchase else 0,
            "units": units,
            "device": rng.choice(_DEVICES),
            "coupon_code": f"SAVE{rng.choice((5, 10, 15))}" if purchase and rng.random() < 0.2 else None,
            "age": person[1] if person else None,
            "age_band": bands.of(person[1]) if person else None,
            "gender": person[2] if person else None,
            "state": person[3] if person else None,
            "country": person[4] if person else None,
            "source_timestamp": event_time + rng.randint(1, 40),
            "produced_at": event_time + rng.randint(40, 200),
        }


def kpi_campaign_records(count: int, seed: int, start_ms: int, campaigns: int = 1_000) -> Iterator[Record]:
    """``count`` campaign KPI records, each a distinct (campaign, one-minute window) point: windows
    of ``campaigns`` campaigns from ``start_ms`` on. Fields the contract adds later than these get
    a value of their type (a time inside the window for timestamps)."""
    rng = random.Random(seed)
    known = {
        "campaign_id", "window_start", "window_end", "views", "clicks", "add_to_carts", "purchases",
        "revenue_cents", "units", "conversion_rate", "avg_order_value_cents", "active_users",
    }  # fmt: skip
    contract = next(c for c in CONTRACTS if c.topic.value == "kpi_campaign")
    extra = [f for f in schema_fields(contract.files[-1]) if f["name"] not in known]
    for i in range(count):
        window_start = start_ms + (i // campaigns) * 60_000
        views = rng.randint(100, 5_000)
        clicks = rng.randint(0, views // 3)
        carts = rng.randint(0, clicks)
        purchases = rng.randint(0, carts)
        revenue = purchases * rng.randint(299, 19_999)
        record: Record = {
            "campaign_id": f"cmp-{i % campaigns:03d}",
            "window_start": window_start,
            "window_end": window_start + 60_000,
            "views": views,
            "clicks": clicks,
            "add_to_carts": carts,
            "purchases": purchases,
            "revenue_cents": revenue,
            "units": purchases * rng.randint(1, 3),
            "conversion_rate": purchases / clicks if clicks else 0.0,
            "avg_order_value_cents": revenue / purchases if purchases else 0.0,
            "active_users": rng.randint(1, views),
        }
        for f in extra:
            kind = _base_type(f["type"])
            logical = f["type"].get("logicalType") if isinstance(f["type"], dict) else None
            if logical or (kind == "long" and "time" in f["name"]):
                record[f["name"]] = window_start + rng.randrange(60_000)
            else:
                record[f["name"]] = {"long": 0, "int": 0, "double": 0.0, "float": 0.0, "string": ""}.get(kind)
        yield record


# --- producing --------------------------------------------------------------------------------------
def produce(
    settings: Settings,
    topic: str,
    values: Iterator[tuple[bytes | None, bytes]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send (key, value) pairs to the topic, acknowledged by the broker (lz4, acks=all); returns
    how many; fails naming the first delivery error."""
    producer = Producer(
        {
            **client_config(settings, "admin"),  # the benchmark's loader, in the Spark job's place
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
            "log_level": 3,
        }
    )
    errors: list[KafkaError] = []

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            errors.append(error)

    sent = 0
    for key, value in values:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
            if progress:
                progress(10_000)
    if producer.flush(120) != 0 or errors:
        raise KafkaUnavailable(f"producing to {topic} failed: {errors[:1] or 'flush timed out'}")
    if progress:
        progress(sent % 10_000)
    return sent
