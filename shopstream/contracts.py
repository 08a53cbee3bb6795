"""The contracts, in one place: topics, value subjects, schema files, KPI fields, InfluxDB
measurements and age bands. Wherever ``schemas/avro/*.avsc`` says something, it is read from there.

Subjects follow TopicNameStrategy (``<topic>-value``). Versions are listed oldest first: `schemas
register` registers the first, `schemas evolve` the next. The demographics topic has no contract
here: its value schema is derived from the MariaDB table and registered by the CDC connector's
converter; ``demographics.avsc`` documents those rows.

KPI measurements: one InfluxDB point per KPI record, tags = the record's string dimensions, integer
fields = its ``long``/``int`` values, float fields = its ``double``/``float`` values, time = window
start (the timestamps are not fields). Age bands: the enriched event's ``age_band`` doc lists them;
they are parsed from there, so the Spark job, Grafana's SQL and the tests share one list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

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
    DEMOGRAPHICS = "demographics"

    def name_in(self, settings: Settings) -> str:
        """The topic's name under these settings."""
        names = {
            Topic.EVENTS: settings.topic_events,
            Topic.ENRICHED: settings.topic_enriched,
            Topic.EVENTS_DLQ: settings.topic_events_dlq,
            Topic.KPI_CAMPAIGN: settings.topic_kpi_campaign,
            Topic.KPI_SEGMENT: settings.topic_kpi_segment,
            Topic.KPI_DLQ: settings.topic_kpi_dlq,
            Topic.DEMOGRAPHICS: settings.topic_demographics,
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
    Contract(Topic.KPI_CAMPAIGN, ("kpi_campaign.avsc",)),
    Contract(Topic.KPI_SEGMENT, ("kpi_segment.avsc",)),
)
EVENT_SCHEMA_FILES = {1: "shop_event.v1.avsc", 2: "shop_event.v2.avsc"}
ENRICHED_SCHEMA_FILE = "enriched_event.avsc"
KPI_SCHEMA_FILES = {Topic.KPI_CAMPAIGN: "kpi_campaign.avsc", Topic.KPI_SEGMENT: "kpi_segment.avsc"}


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
@dataclass(frozen=True)
class Measurement:
    """One InfluxDB measurement: its tags and typed fields."""

    name: str
    tags: tuple[str, ...]
    integer_fields: tuple[str, ...]
    float_fields: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return self.integer_fields + self.float_fields


_INTEGER, _FLOAT = {"long", "int"}, {"double", "float"}


def measurement_of(name: str, schema_file: str) -> Measurement:
    """The measurement a KPI record becomes: string fields are tags, numbers are typed fields,
    timestamps are the point's time."""
    tags: list[str] = []
    integers: list[str] = []
    floats: list[str] = []
    for f in schema_fields(schema_file):
        kind = f["type"]
        if isinstance(kind, dict) and kind.get("logicalType", "").startswith("timestamp"):
            continue
        if kind == "string":
            tags.append(f["name"])
        elif kind in _INTEGER:
            integers.append(f["name"])
        elif kind in _FLOAT:
            floats.append(f["name"])
        else:
            raise ContractError(f"{schema_file}: field {f['name']} of type {kind} has no InfluxDB type")
    return Measurement(name, tuple(tags), tuple(integers), tuple(floats))


CAMPAIGN_MEASUREMENT = "kpi_campaign"
SEGMENT_MEASUREMENT = "kpi_segment"
# the pipeline's own telemetry (written by the live view): one point per stage and sample
PIPELINE_STAGE = Measurement(
    "pipeline_stage", tags=("stage",), integer_fields=("records", "lag"), float_fields=("rate",)
)


@cache
def kpi_campaign() -> Measurement:
    return measurement_of(CAMPAIGN_MEASUREMENT, KPI_SCHEMA_FILES[Topic.KPI_CAMPAIGN])


@cache
def kpi_segment() -> Measurement:
    return measurement_of(SEGMENT_MEASUREMENT, KPI_SCHEMA_FILES[Topic.KPI_SEGMENT])


def measurements() -> dict[str, Measurement]:
    """The InfluxDB measurement contract (grafana/README.md), by name."""
    return {m.name: m for m in (kpi_campaign(), kpi_segment(), PIPELINE_STAGE)}


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
