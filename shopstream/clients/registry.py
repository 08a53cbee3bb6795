"""Talking to a Confluent-API schema registry (Apicurio's ccompat/v7 locally, any other by URL).

The Confluent REST calls are made directly: confluent-kafka's client hides what these commands
need (the registry's compatibility *reasons*, per-subject configuration, plain 404s). Each client
speaks as one registry role of the settings (basic auth: admin, connect, reader; none when the
registry is open); a refused login (401, Apicurio answers it with an empty body) and a refused
operation (403) are one error naming the setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import SerializationContext

from shopstream.clients import http
from shopstream.errors import RegistryError
from shopstream.settings import Login, RegistryRole, RegistrySettings

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
Deserialize = Callable[[bytes | None, SerializationContext], Any]


@dataclass(frozen=True)
class Compatibility:
    compatible: bool
    messages: list[str]


@dataclass(frozen=True)
class SubjectInfo:
    subject: str
    versions: list[int]
    latest_id: int | None
    compatibility: str


class Registry:
    def __init__(self, url: str, timeout_s: float = 10.0, login: Login | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.login = login
        self.auth = (login.user, login.secret) if login else None

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = requests.request(
                method,
                f"{self.url}{path}",
                timeout=http.timeout(self.timeout_s),
                headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
                auth=self.auth,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise self._unreachable(http.reason(exc)) from exc
        self._check_auth(resp, f"{method} {path}")
        return resp

    def _check_auth(self, resp: requests.Response, what: str) -> None:
        if resp.status_code == 401:
            if self.login is None:
                raise RegistryError(
                    f"the schema registry at {self.url} requires authentication (HTTP 401)",
                    "set SHOPSTREAM_SCHEMA_REGISTRY_ADMIN_USER / _PASSWORD (and the connect and reader ones)",
                )
            raise RegistryError(self.login.refused(self.url, "HTTP 401"), self.login.hint)
        if resp.status_code == 403:
            who = f"user '{self.login.user}' ({self.login.settings})" if self.login else "anonymous"
            raise RegistryError(
                f"the schema registry refused {what} to {who}: HTTP 403 {resp.text.strip()[:200]}",
                "that needs a user with a higher registry role (registering: developer or admin)",
            )

    def _unreachable(self, reason: str) -> RegistryError:
        return RegistryError(
            f"schema registry unreachable at {self.url} ({reason})",
            "is it running (`shopstream stack status`) and is SHOPSTREAM_SCHEMA_REGISTRY_URL right?",
        )

    def check_reachable(self) -> None:
        """One quick request (``GET /subjects``); ``RegistryError`` naming the address and the setting."""
        self._json("GET", "/subjects")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._call(method, path, **kwargs)
        if not resp.ok:
            raise RegistryError(f"{method} {path}: {resp.status_code} {resp.text.strip()[:500]}")
        return resp.json()

    def subjects(self) -> list[str]:
        return sorted(self._json("GET", "/subjects"))

    def versions(self, subject: str) -> list[int]:
        resp = self._call("GET", f"/subjects/{subject}/versions")
        if resp.status_code == 404:
            return []
        if not resp.ok:
            raise RegistryError(f"GET versions of {subject}: {resp.status_code} {resp.text.strip()}")
        return sorted(resp.json())

    def version(self, subject: str, version: int | str = "latest") -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", f"/subjects/{subject}/versions/{version}")
        return result

    def compatibility_level(self, subject: str) -> str:
        resp = self._call("GET", f"/config/{subject}")
        if resp.ok:
            body = resp.json()
            return str(body.get("compatibilityLevel") or body.get("compatibility"))
        return str(self._json("GET", "/config").get("compatibilityLevel", "?")) + " (global)"

    def set_compatibility(self, subject: str, level: str) -> None:
        self._json("PUT", f"/config/{subject}", json={"compatibility": level})

    def check(self, subject: str, schema_str: str) -> Compatibility:
        """Ask the registry whether the candidate is compatible with the subject's latest version."""
        if not self.versions(subject):
            return Compatibility(True, [f"{subject} has no versions yet: anything is compatible"])
        body = self._json(
            "POST",
            f"/compatibility/subjects/{subject}/versions/latest",
            params={"verbose": "true"},
            json={"schema": schema_str, "schemaType": "AVRO"},
        )
        compatible = bool(body.get("is_compatible"))
        messages = [str(m) for m in body.get("messages") or []]
        if not compatible and not messages:
            messages = self._apicurio_reasons(subject, schema_str)
        return Compatibility(compatible, messages)

    def _apicurio_reasons(self, subject: str, schema_str: str) -> list[str]:
        """Apicurio's ccompat API ignores ``verbose``; its native v3 API gives the rule's causes
        through a dry-run registration (nothing is stored). Other registries: no extra reasons."""
        base, sep, _ = self.url.partition("/apis/ccompat/")
        if not sep:
            return []
        resp = requests.post(
            f"{base}/apis/registry/v3/groups/default/artifacts/{subject}/versions",
            params={"dryRun": "true"},
            json={"content": {"content": schema_str, "contentType": "application/json"}},
            timeout=self.timeout_s,
            auth=self.auth,
        )
        self._check_auth(resp, "a dry-run registration")
        if resp.ok or "causes" not in resp.text:
            return []
        return [f"{c.get('description')} at {c.get('context')}" for c in resp.json()["causes"]]

    def lookup(self, subject: str, schema_str: str) -> tuple[int, int] | None:
        """(id, version) if exactly this schema is registered under the subject."""
        resp = self._call("POST", f"/subjects/{subject}", json={"schema": schema_str, "schemaType": "AVRO"})
        if resp.status_code == 404:
            return None
        if not resp.ok:
            raise RegistryError(f"lookup in {subject}: {resp.status_code} {resp.text.strip()[:500]}")
        body = resp.json()
        return int(body["id"]), int(body["version"])

    def register(self, subject: str, schema_str: str) -> int:
        resp = self._call(
            "POST", f"/subjects/{subject}/versions", json={"schema": schema_str, "schemaType": "AVRO"}
        )
        if not resp.ok:
            raise RegistryError(
                f"registering in {subject} refused: {resp.status_code} {resp.text.strip()[:500]}"
            )
        return int(resp.json()["id"])

    def delete_subject(self, subject: str) -> None:
        """Delete the subject for good (soft, then permanently); a missing subject is not an error."""
        for params in ({}, {"permanent": "true"}):
            resp = self._call("DELETE", f"/subjects/{subject}", params=params)
            if not resp.ok and resp.status_code != 404:
                raise RegistryError(f"deleting {subject}: {resp.status_code} {resp.text.strip()[:500]}")

    def info(self, subject: str) -> SubjectInfo:
        versions = self.versions(subject)
        latest = self.version(subject)["id"] if versions else None
        return SubjectInfo(subject, versions, latest, self.compatibility_level(subject))


def registry_client(registry: RegistrySettings, role: RegistryRole, timeout_s: float = 10.0) -> Registry:
    """The registry of the settings, as ``role``."""
    return Registry(registry.url, timeout_s, registry.login(role))


def client_conf(registry: RegistrySettings, role: RegistryRole, timeout_s: float = 10.0) -> dict[str, Any]:
    """confluent-kafka's ``SchemaRegistryClient`` config of ``role`` (with ``basic.auth.user.info``)."""
    conf: dict[str, Any] = {"url": registry.url, "timeout": timeout_s}
    login = registry.login(role)
    if login is not None:
        conf["basic.auth.user.info"] = f"{login.user}:{login.secret}"
    return conf


def avro_deserializer(
    registry: RegistrySettings, role: RegistryRole = "reader", timeout_s: float = 10.0
) -> Deserialize:
    """confluent-kafka's AvroDeserializer as this registry needs it: the topic subject strategy
    (2.16's default first asks an ``/associations`` API that Apicurio lacks) and a client timeout
    (a registry call without one can hang a reader forever)."""
    deserialize: Deserialize = AvroDeserializer(
        SchemaRegistryClient(client_conf(registry, role, timeout_s)),
        conf={"subject.name.strategy": topic_subject_name_strategy},
    )
    return deserialize
