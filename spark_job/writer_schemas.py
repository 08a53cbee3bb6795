"""Writer schemas by id, from the registry's Confluent API, cached: the job decodes by schema id."""

from __future__ import annotations

import json
import time

from shopstream.clients.registry import Registry
from shopstream.contracts import load_schema
from shopstream.errors import RegistryError
from spark_job.plans import WriterSchema


class SchemaCache:
    """id -> writer schema JSON for one subject; `refresh` picks up versions registered since."""

    def __init__(self, registry: Registry, subject: str, every_s: float = 5.0) -> None:
        self.registry = registry
        self.subject = subject
        self.every_s = every_s
        self.by_id: dict[int, str] = {}
        self.missing: set[int] = set()  # ids seen in records that are no version of the subject
        self._versions_seen: set[int] = set()
        self._checked_at = -every_s

    @property
    def newest_id(self) -> int:
        return max(self.by_id, default=0)

    def refresh(self, force: bool = False) -> dict[int, str]:
        """Asks the registry at most every ``every_s`` seconds (batches may come many per second);
        fetches only versions not seen before."""
        if not force and time.monotonic() - self._checked_at < self.every_s:
            return self.by_id
        self._checked_at = time.monotonic()
        for version in sorted(set(self.registry.versions(self.subject)) - self._versions_seen):
            found = self.registry.version(self.subject, version)
            self.by_id.setdefault(int(found["id"]), json.dumps(json.loads(found["schema"])))
            self._versions_seen.add(version)
        return self.by_id

    def resolve(self, schema_id: int) -> bool:
        """Whether the subject has ``schema_id`` now; if not, it is remembered as missing."""
        if schema_id not in self.refresh(force=True):
            self.missing.add(schema_id)
        return schema_id in self.by_id


def registered(registry: Registry, subject: str, schema_file: str) -> WriterSchema:
    """An output contract as registered (`shopstream schemas register`): its id and schema."""
    schema = load_schema(schema_file)
    found = registry.lookup(subject, schema)
    if found is None:
        raise RegistryError(
            f"{schema_file} is not registered under {subject}", "run `shopstream schemas register`"
        )
    return WriterSchema(found[0], schema)
