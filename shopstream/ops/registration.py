"""The contracts in the schema registry: register the first versions, evolve to the next ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopstream.clients.registry import Compatibility, registry_client
from shopstream.contracts import CONTRACTS, Contract, contract_for_subject, load_schema
from shopstream.errors import RegistryError
from shopstream.settings import Settings

COMPATIBILITY = "BACKWARD"
Report = Callable[[str], None]


@dataclass(frozen=True)
class Versions:
    """One contract's value subject under these settings and its schema files' texts, oldest first."""

    subject: str
    files: tuple[str, ...]
    schemas: tuple[str, ...]


def versions_of(settings: Settings, subject: str | None = None) -> list[Versions]:
    """Every contract's subject and schemas (or SUBJECT's alone): what the registry is asked about."""
    contracts: tuple[Contract, ...] = CONTRACTS
    if subject is not None:
        found = contract_for_subject(settings, subject)
        if found is None:
            raise RegistryError(f"no contract for subject {subject!r}", "see `shopstream schemas list`")
        contracts = (found,)
    return [Versions(c.subject(settings), c.files, tuple(load_schema(f) for f in c.files)) for c in contracts]


def register(settings: Settings, report: Report) -> None:
    """Set BACKWARD compatibility on every value subject and register each contract's first version."""
    wanted = versions_of(settings)
    registry = registry_client(settings.registry, "admin")
    for contract in wanted:
        subject = contract.subject
        registry.set_compatibility(subject, COMPATIBILITY)
        if registry.versions(subject):
            report(f"{subject}: already has versions {registry.versions(subject)}")
            continue
        schema_id = registry.register(subject, contract.schemas[0])
        report(f"{subject}: registered {contract.files[0]} as id {schema_id} ({COMPATIBILITY})")


def evolve(settings: Settings, report: Report, subject: str | None = None) -> None:
    """Register the next version of each contract (or of SUBJECT's), after the registry confirms it
    is compatible."""
    wanted = versions_of(settings, subject)
    registry = registry_client(settings.registry, "admin")
    for contract in wanted:
        subj = contract.subject
        pending = [
            (f, s)
            for f, s in zip(contract.files, contract.schemas, strict=True)
            if registry.lookup(subj, s) is None
        ]
        if not registry.versions(subj):
            raise RegistryError(f"{subj} has no versions", "run `shopstream schemas register` first")
        if not pending:
            report(f"{subj}: up to date (versions {registry.versions(subj)})")
            continue
        file, candidate = pending[0]
        verdict = registry.check(subj, candidate)
        if not verdict.compatible:
            raise RegistryError(f"{subj}: {file} rejected: " + "; ".join(verdict.messages))
        schema_id = registry.register(subj, candidate)
        report(f"{subj}: registered {file} as id {schema_id}, versions {registry.versions(subj)}")


def check(settings: Settings, file: Path, subject: str) -> Compatibility:
    """Whether the candidate schema file is compatible with the subject's latest version."""
    return registry_client(settings.registry, "admin").check(subject, load_schema(file.resolve()))
