"""The contracts, in one place: topics, value subjects, schema files, KPI fields, InfluxDB
measurements and age bands. Wherever ``schemas/avro/*.avsc`` says something, it is read from there.

Subjects follow TopicNameStrategy (``<topic>-value``). Versions are listed oldest first: `schemas
register` registers the first, `schemas evolve` the next. The demographics topic has no contract
here: its value schema is derived from the MariaDB table and registered by the CDC connector's
converter; ``demographics.avsc`` documents those rows.

InfluxDB measurements: what the InfluxDB sink connectors in ``connectors/*.json`` write, read from
those files (measurement name, tag fields, time field, excluded fields) and typed from the topic's
Avro contract; the Grafana contract is this, not a second list. Age bands: the enriched event's
``age_band`` doc lists them; they are parsed from there, so the Spark job, Grafana's SQL and the
tests share one list.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from shopstream.connector_file import ConnectorFile, connector_files
from shopstream.errors import ContractError
from shopstream.resources import project_file
from shopstream.settings import Settings


class Topic(StrEnum):
    """The pipeline's topics; the value is also the stage's name in telemetry."""

    EVENTS = "events"
    ENRICHED = "enriched"
    EVENTS_DLQ = "events_dlq"
    KPI_CAMPAIGN = "kpi_campaign"
    KPI_SEGMENT = "kpi_segment"
    KPI_DLQ = "kpi_dlq"
    ENRICHED_DLQ = "enriched_dlq"
    DEMOGRAPHICS = "demographics"

    def name_in(self, settings: Settings) -> str:
        """The topic's name under these settings."""
        names = {
            Topic.EVENTS: settings.topics.events,
            Topic.ENRICHED: settings.topics.enriched,
            Topic.EVENTS_DLQ: settings.topics.events_dlq,
            Topic.KPI_CAMPAIGN: settings.topics.kpi_campaign,
            Topic.KPI_SEGMENT: settings.topics.kpi_segment,
            Topic.KPI_DLQ: settings.topics.kpi_dlq,
            Topic.ENRICHED_DLQ: settings.topics.enriched_dlq,
            Topic.DEMOGRAPHICS: settings.topics.demographics,
        }
        return names[self]


def subject(topic_name: str) -> str:
    """The value subject of a topic (TopicNameStrategy)."""
    return f"{topic_name}-value"


@dataclass(frozen=True)
class Contract:
    topic: Topic
    files: tuple[str, ...]  # schema files under schemas/avro, oldest version first

    def topic_name(self, settings: Settings) -> str:
        return self.topic.name_in(settings)

    def subject(self, settings: Settings) -> str:
        return subject(self.topic_name(settings))


CONTRACTS: tuple[Contract, ...] = (
    Contract(Topic.EVENTS, ("shop_event.v1.avsc", "shop_event.v2.avsc")),
    Contract(Topic.ENRICHED, ("enriched_event.avsc",)),
    Contract(Topic.KPI_CAMPAIGN, ("kpi_campaign.avsc", "kpi_campaign.v2.avsc")),
    Contract(Topic.KPI_SEGMENT, ("kpi_segment.avsc", "kpi_segment.v2.avsc")),
)
EVENT_SCHEMA_FILES = {1: "shop_event.v1.avsc", 2: "shop_event.v2.avsc"}
ENRICHED_SCHEMA_FILE = "enriched_event.avsc"
# what the Spark job writes: the latest version (v2 adds last_event_time)
KPI_SCHEMA_FILES = {Topic.KPI_CAMPAIGN: "kpi_campaign.v2.avsc", Topic.KPI_SEGMENT: "kpi_segment.v2.avsc"}


def avro_dir() -> Path:
    """``schemas/avro``: the contracts' files."""
    return project_file("schemas", "avro")


@cache
def load_schema(name_or_path: str | Path) -> str:
    """Schema text, normalised (parsed and re-dumped) so that equal schemas compare equal. A bare
    name is a file under schemas/avro."""
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = avro_dir() / path
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


def schema_fields(schema_file: str) -> tuple[dict[str, Any], ...]:
    """The record fields of a schema file, in order."""
    return tuple(json.loads(load_schema(schema_file))["fields"])


def field_names(schema_file: str) -> tuple[str, ...]:
    return tuple(f["name"] for f in schema_fields(schema_file))


def contract_for_subject(settings: Settings, subject_name: str) -> Contract | None:
    return next((c for c in CONTRACTS if c.subject(settings) == subject_name), None)


# --- InfluxDB measurements ------------------------------------------------------------------------
SINK_CONNECTOR_CLASS = "io.shopstream.connect.influxdb.InfluxDbSinkConnector"


@dataclass(frozen=True)
class Measurement:
    """One InfluxDB measurement: its tags and typed fields (and, when not the database's default,
    the setting that names its retention policy)."""

    name: str
    tags: tuple[str, ...]
    integer_fields: tuple[str, ...]
    float_fields: tuple[str, ...] = ()
    string_fields: tuple[str, ...] = ()
    rp_setting: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return self.integer_fields + self.float_fields + self.string_fields

    def rp(self, settings: Settings) -> str | None:
        """Its retention policy under these settings (None: the database's default)."""
        return str(settings.value_of(self.rp_setting)) if self.rp_setting else None

    def qualified(self, settings: Settings) -> str:
        """The measurement as an InfluxQL FROM clause names it: ``"rp"."name"`` or ``"name"``."""
        rp = self.rp(settings)
        return f'"{rp}"."{self.name}"' if rp else f'"{self.name}"'


_INFLUX_TYPES = {"long": "integer", "int": "integer", "double": "float", "float": "float", "string": "string"}


def avro_base_type(avro_type: Any) -> str:
    """An Avro field type as its one primitive: an optional field is its non-null branch, a logical
    type (timestamp-millis) its underlying type, an enum ``string``."""
    if isinstance(avro_type, list):
        branches = [k for k in avro_type if k != "null"]
        if len(branches) != 1:
            raise ContractError(f"union {avro_type} has no single type")
        return avro_base_type(branches[0])
    if isinstance(avro_type, dict):
        return "string" if avro_type.get("type") == "enum" else avro_base_type(avro_type["type"])
    return str(avro_type)


def influx_type(avro_type: Any) -> str:
    """What the sink writes an Avro field as (through the converter's Connect schema): integer,
    float or string; timestamps are integers (epoch ms)."""
    base = avro_base_type(avro_type)
    if base not in _INFLUX_TYPES:
        raise ContractError(f"Avro type {avro_type!r} has no InfluxDB type")
    return _INFLUX_TYPES[base]


def sink_contract(file: ConnectorFile) -> Contract:
    """The Avro contract of the topic a sink connector file reads (``topics = ${settings:topic_X}``)."""
    where, topic_setting = file.path.name, file.setting_of("topics")
    if topic_setting is None:
        raise ContractError(f"{where}: topics must be a ${{settings:...}} placeholder for the contract")
    contract = next((c for c in CONTRACTS if f"topic_{c.topic.value}" == topic_setting), None)
    if contract is None:
        raise ContractError(f"{where}: topics = ${{settings:{topic_setting}}} has no Avro contract")
    return contract


def sink_measurement(file: ConnectorFile) -> Measurement:
    """The measurement one InfluxDB sink connector file writes: its name, tags, time field and
    field selection from the connector config, the field types from the topic's Avro contract."""
    where, config = file.path.name, file.config
    contract = sink_contract(file)
    name = config["measurement.name.format"]
    if "${" in name:
        raise ContractError(f"{where}: measurement.name.format must be a fixed name for the contract")
    tags = file.listed("tags.fields")
    not_fields = {*tags, config.get("event.time.fieldname", ""), *file.listed("fields.exclude")}
    include = file.listed("fields.include")
    typed: dict[str, list[str]] = {"integer": [], "float": [], "string": []}
    for f in schema_fields(contract.files[-1]):
        if f["name"] in tags and influx_type(f["type"]) != "string":
            raise ContractError(f"{where}: tag {f['name']} is not a string field of {contract.files[-1]}")
        if f["name"] not in not_fields and (not include or f["name"] in include):
            typed[influx_type(f["type"])].append(f["name"])
    rp = file.setting_of("influxdb.rp")
    if "influxdb.rp" in config and rp is None:
        raise ContractError(f"{where}: influxdb.rp must be a ${{settings:...}} placeholder for the contract")
    return Measurement(name, tags, tuple(typed["integer"]), tuple(typed["float"]), tuple(typed["string"]), rp)


def _event_digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def disambiguated_ns(time_ms: int, value: str, slots: int = 1_000_000) -> int:
    """The time the sink gives an event point (``event.time.disambiguate.field``, millisecond event
    times written in nanoseconds): the millisecond plus the first 8 bytes of the value's SHA-256,
    unsigned, modulo the ``slots`` of a millisecond (connectors/influxdb-sink/README.md)."""
    return time_ms * 1_000_000 + int.from_bytes(_event_digest(value)[:8], "big") % slots


def hash_bucket(value: str, buckets: int) -> int:
    """One of ``buckets`` picked by bytes 8-15 of the value's SHA-256 (unsigned): independent of the
    time slot, which the first 8 bytes pick."""
    return int.from_bytes(_event_digest(value)[8:16], "big") % buckets


CAMPAIGN_MEASUREMENT = "kpi_campaign"
SEGMENT_MEASUREMENT = "kpi_segment"
EVENTS_MEASUREMENT = "shop_events"
# the pipeline's own telemetry (written by the telemetry sampler): one point per stage and sample
PIPELINE_STAGE = Measurement(
    "pipeline_stage", tags=("stage",), integer_fields=("records", "lag"), float_fields=("rate",)
)


@cache
def sink_measurements() -> dict[str, Measurement]:
    """What the InfluxDB sink connectors in ``connectors/`` write, by measurement name."""
    found: dict[str, Measurement] = {}
    for file in connector_files():
        if file.connector_class == SINK_CONNECTOR_CLASS:
            measurement = sink_measurement(file)
            found[measurement.name] = measurement
    return found


def kpi_campaign() -> Measurement:
    return sink_measurements()[CAMPAIGN_MEASUREMENT]


def kpi_segment() -> Measurement:
    return sink_measurements()[SEGMENT_MEASUREMENT]


def shop_events() -> Measurement:
    return sink_measurements()[EVENTS_MEASUREMENT]


def measurements() -> dict[str, Measurement]:
    """The InfluxDB measurement contract (grafana/README.md), by name: what the sink connectors
    write plus the pipeline's telemetry."""
    return {**sink_measurements(), PIPELINE_STAGE.name: PIPELINE_STAGE}


# --- age bands ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgeBands:
    """Closed bands (low, high, label), then the open-ended oldest band (low, label)."""

    bands: tuple[tuple[int, int, str], ...]
    oldest: tuple[int, str]

    def of(self, age: int) -> str | None:
        if age >= self.oldest[0]:
            return self.oldest[1]
        return next((label for low, high, label in self.bands if low <= age <= high), None)


_BAND = re.compile(r"(\d+)-(\d+)|(\d+)\+")


@cache
def age_bands() -> AgeBands:
    """Parsed from the enriched event's ``age_band`` doc ("Age band: 18-24, ..., 65+; null if
    unknown"); a doc that no longer lists them that way fails loudly."""
    doc = next((f.get("doc", "") for f in schema_fields(ENRICHED_SCHEMA_FILE) if f["name"] == "age_band"), "")
    listed = doc.partition(":")[2].partition(";")[0]
    bands: list[tuple[int, int, str]] = []
    oldest: tuple[int, str] | None = None
    for item in (part.strip() for part in listed.split(",")):
        match = _BAND.fullmatch(item)
        if match is None or oldest is not None:
            raise ContractError(
                f"{ENRICHED_SCHEMA_FILE}: age_band doc lists {item!r}; expected 'L-H, ..., L+'"
            )
        if match.group(3):
            oldest = (int(match.group(3)), item)
        else:
            bands.append((int(match.group(1)), int(match.group(2)), item))
    if not bands or oldest is None:
        raise ContractError(f"{ENRICHED_SCHEMA_FILE}: age_band doc lists no bands: {doc!r}")
    return AgeBands(tuple(bands), oldest)
