"""The contracts in the schema registry: register the first versions, evolve to the next ones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shopstream.clients.registry import Compatibility, registry_client
from shopstream.contracts import CONTRACTS, Contract, contract_for_subject, load_schema
from shopstream.errors import RegistryError
from shopstream.settings import Settings

COMPATIBILITY = "BACKWARD"
Report = Callable[[str], None]


def register(settings: Settings, report: Report) -> None:
    """Set BACKWARD compatibility on every value subject and register each contract's first version."""
    registry = registry_client(settings, "admin")
    for contract in CONTRACTS:
        subject = contract.subject(settings)
        registry.set_compatibility(subject, COMPATIBILITY)
        first = load_schema(contract.files[0])
        if registry.versions(subject):
            report(f"{subject}: already has versions {registry.versions(subject)}")
            continue
        schema_id = registry.register(subject, first)
        report(f"{subject}: registered {contract.files[0]} as id {schema_id} ({COMPATIBILITY})")


def evolve(settings: Settings, report: Report, subject: str | None = None) -> None:
    """Register the next version of each contract (or of SUBJECT's), after the registry confirms it
    is compatible."""
    registry = registry_client(settings, "admin")
    contracts: tuple[Contract, ...] = CONTRACTS
    if subject is not None:
        found = contract_for_subject(settings, subject)
        if found is None:
            raise RegistryError(f"no contract for subject {subject!r}", "see `shopstream schemas list`")
        contracts = (found,)
    for contract in contracts:
        subj = contract.subject(settings)
        pending = [f for f in contract.files if registry.lookup(subj, load_schema(f)) is None]
        if not registry.versions(subj):
            raise RegistryError(f"{subj} has no versions", "run `shopstream schemas register` first")
        if not pending:
            report(f"{subj}: up to date (versions {registry.versions(subj)})")
            continue
        candidate = load_schema(pending[0])
        verdict = registry.check(subj, candidate)
        if not verdict.compatible:
            raise RegistryError(f"{subj}: {pending[0]} rejected: " + "; ".join(verdict.messages))
        schema_id = registry.register(subj, candidate)
        report(f"{subj}: registered {pending[0]} as id {schema_id}, versions {registry.versions(subj)}")


def check(settings: Settings, file: Path, subject: str) -> Compatibility:
    """Whether the candidate schema file is compatible with the subject's latest version."""
    return registry_client(settings, "admin").check(subject, load_schema(file.resolve()))
