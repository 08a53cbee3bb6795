"""Which Avro contract governs which topic: value subjects by TopicNameStrategy (``<topic>-value``).

Versions are listed oldest first; `schemas register` registers the first, `schemas evolve` the next.
The demographics topic is not here: its value schema is derived from the MariaDB table and
registered by the CDC connector's converter; ``demographics.avsc`` documents those rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scripts.settings import Settings

AVRO_DIR = Path(__file__).resolve().parent / "avro"


@dataclass(frozen=True)
class Contract:
    topic_setting: str  # the Settings field naming the topic
    files: tuple[str, ...]  # schema files under schemas/avro, oldest version first

    def topic(self, settings: Settings) -> str:
        return str(getattr(settings, self.topic_setting))

    def subject(self, settings: Settings) -> str:
        return f"{self.topic(settings)}-value"


CONTRACTS: tuple[Contract, ...] = (
    Contract("topic_events", ("shop_event.v1.avsc", "shop_event.v2.avsc")),
    Contract("topic_enriched", ("enriched_event.avsc",)),
    Contract("topic_kpi_campaign", ("kpi_campaign.avsc",)),
    Contract("topic_kpi_segment", ("kpi_segment.avsc",)),
)
EVENT_SCHEMA_FILES = {1: "shop_event.v1.avsc", 2: "shop_event.v2.avsc"}


@cache
def load_schema(name_or_path: str | Path) -> str:
    """Schema text, normalised (parsed and re-dumped) so that equal schemas compare equal."""
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = AVRO_DIR / path
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


def contract_for_subject(settings: Settings, subject: str) -> Contract | None:
    return next((c for c in CONTRACTS if c.subject(settings) == subject), None)
