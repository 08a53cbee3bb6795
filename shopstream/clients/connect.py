"""Kafka Connect's REST API: requests with a retry while the worker group rebalances (409), with the
REST basic auth identity of the settings (Kafka's ``BasicAuthSecurityRestExtension`` on the local
worker); and the secrets a worker's environment must hold for the shipped connector configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from shopstream.clients import http
from shopstream.clients.kafka import java_security_config
from shopstream.errors import ConnectError
from shopstream.retry import NotYet, wait_until
from shopstream.settings import ConnectSettings, KafkaSettings, RegistrySettings, Settings

# ${env:NAME} references of the connector configs: the worker's EnvVarConfigProvider resolves them,
# so that no secret reaches Connect's config topic or its REST answers
KAFKA_PASSWORD_ENV = "SHOPSTREAM_KAFKA_CONNECT_PASSWORD"
REGISTRY_PASSWORD_ENV = "SHOPSTREAM_SCHEMA_REGISTRY_CONNECT_PASSWORD"  # (or the admin's: its fallback)
CDC_PASSWORD_ENV = "SHOPSTREAM_MYSQL_CDC_PASSWORD"
INFLUXDB_PASSWORD_ENV = "SHOPSTREAM_INFLUXDB_WRITER_PASSWORD"
HISTORY_CLIENT_PREFIXES = ("schema.history.internal.producer.", "schema.history.internal.consumer.")
HISTORY_BOOTSTRAP = "schema.history.internal.kafka.bootstrap.servers"
APICURIO_CONVERTER = "io.apicurio.registry.utils.converter.AvroConverter"

Changes = dict[str, tuple[str | None, str | None]]


def env_ref(name: str) -> str:
    return f"${{env:{name}}}"


def worker_secrets(settings: Settings) -> dict[str, str]:
    """NAME -> value of every secret the connector configs reference as ``${env:NAME}``: what the
    environment of a Connect worker running them must hold."""
    registry = settings.registry.login("connect")
    return {
        KAFKA_PASSWORD_ENV: settings.kafka.connect_password.get_secret_value(),
        REGISTRY_PASSWORD_ENV: registry.secret if registry else "",
        CDC_PASSWORD_ENV: settings.mysql.cdc_password.get_secret_value(),
        INFLUXDB_PASSWORD_ENV: settings.influxdb.writer_password.get_secret_value(),
    }


def client_security(
    kafka: KafkaSettings, registry: RegistrySettings, config: dict[str, str]
) -> dict[str, str]:
    """What a connector's config needs for the clients the connector builds itself (keys the config
    sets itself win): SASL (and TLS) for the Kafka clients of Debezium's schema history, as the
    Connect role (the worker's ``producer.``, ``consumer.`` and ``admin.`` keys do not reach them);
    basic auth for its Apicurio converters, as the registry's connect user. Passwords are
    ``${env:...}`` references (``worker_secrets``)."""
    extra: dict[str, str] = {}
    if HISTORY_BOOTSTRAP in config:
        security = java_security_config(kafka, "connect", password=env_ref(KAFKA_PASSWORD_ENV))
        extra |= {f"{prefix}{k}": v for prefix in HISTORY_CLIENT_PREFIXES for k, v in security.items()}
    login = registry.login("connect")
    for key in ("key.converter", "value.converter"):
        if login is not None and config.get(key) == APICURIO_CONVERTER:
            extra[f"{key}.apicurio.auth.username"] = login.user
            extra[f"{key}.apicurio.auth.password"] = env_ref(REGISTRY_PASSWORD_ENV)
    return extra


def diff(desired: dict[str, str], current: dict[str, str] | None) -> Changes:
    """key -> (current, desired) for every key that differs; empty when a PUT would change nothing."""
    current = current or {}
    keys = set(desired) | set(current)
    return {k: (current.get(k), desired.get(k)) for k in sorted(keys) if current.get(k) != desired.get(k)}


@dataclass(frozen=True)
class Applied:
    """What ``ConnectClient.apply`` did to one connector: created, updated (``changes``) or left
    unchanged, and the tasks it runs with."""

    created: bool
    changes: Changes
    tasks: int

    @property
    def verb(self) -> str:
        if self.created:
            return "created"
        n = len(self.changes)
        return f"updated ({n} key{'s' if n > 1 else ''})" if n else "unchanged"


class Rebalancing(ConnectError):
    """409 (or 500 "a rebalance is expected"): the worker group is rebalancing; the request is
    retried."""


class ConnectClient:
    """Connect's REST API at the settings' URL, or the first of several (workers of one group) that
    answers: a request that reaches no worker is tried on the next, and the one that answered is asked
    first from then on."""

    def __init__(self, connect: ConnectSettings, timeout_s: float = 30, url: str | None = None) -> None:
        self.urls = [u.rstrip("/") for u in ([url] if url else connect.urls)]
        self.url = self.urls[0]
        self.timeout_s = timeout_s
        self.login = connect.login()
        self.auth = (self.login.user, self.login.secret) if self.login else None

    @retry(
        retry=retry_if_exception_type(Rebalancing),
        wait=wait_exponential(multiplier=0.25, max=4),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        resp = self._answer(method, path, **kwargs)
        if resp.status_code == 401:  # the body is plain text under a JSON content type
            if self.login is None:
                raise ConnectError(
                    f"Kafka Connect at {self.url} requires authentication (HTTP 401)",
                    "set SHOPSTREAM_CONNECT_USER and SHOPSTREAM_CONNECT_PASSWORD",
                )
            raise ConnectError(self.login.refused(self.url, "HTTP 401"), self.login.hint)
        if resp.status_code == 409 or (resp.status_code == 500 and "rebalance is expected" in resp.text):
            # 409: rebalancing; 500 "a rebalance is expected": the worker has not caught up with one
            raise Rebalancing(f"{method} {path}: {resp.status_code} {resp.text.strip()}")
        return resp

    def _answer(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The first answer of the workers, from the last one that answered on."""
        order = [self.url, *(u for u in self.urls if u != self.url)]
        reasons = []
        for url in order:
            try:
                resp = requests.request(
                    method, f"{url}{path}", timeout=http.timeout(self.timeout_s), auth=self.auth, **kwargs
                )
            except requests.ConnectionError as exc:  # no worker there: the next one
                reasons.append(f"{url} ({http.reason(exc)})")
                continue
            except requests.RequestException as exc:  # it took the request: not sent twice
                reasons.append(f"{url} ({http.reason(exc)})")
                break
            self.url = url
            return resp
        raise ConnectError(
            f"Kafka Connect unreachable at {'; '.join(reasons)}",
            "is it running (`shopstream stack status`) and is SHOPSTREAM_CONNECT_URL right?",
        )

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        if not resp.ok:
            raise ConnectError(f"{method} {path}: {resp.status_code} {resp.text.strip()[:1000]}")
        return resp.json() if resp.content else None

    def connectors(self) -> list[str]:
        return sorted(self.json("GET", "/connectors"))

    def config(self, name: str) -> dict[str, str] | None:
        resp = self.request("GET", f"/connectors/{name}/config")
        if resp.status_code == 404:
            return None
        if not resp.ok:
            raise ConnectError(f"GET config of {name}: {resp.status_code} {resp.text.strip()}")
        result: dict[str, str] = resp.json()
        return result

    def status(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.json("GET", f"/connectors/{name}/status")
        return result

    def validate(self, name: str, config: dict[str, str]) -> list[str]:
        """Every field error Connect reports for the config (empty when valid)."""
        connector_class = config.get("connector.class", "")
        if not connector_class:
            return ["connector.class: missing"]
        resp = self.request("PUT", f"/connector-plugins/{connector_class}/config/validate", json=config)
        if resp.status_code in (400, 404, 500):
            return [f"connector.class: {connector_class}: {resp.json().get('message', resp.text)}"]
        if not resp.ok:
            raise ConnectError(f"validate {name}: {resp.status_code} {resp.text.strip()}")
        body = resp.json()
        errors = [
            f"{entry['value']['name']}: {message}"
            for entry in body["configs"]
            for message in entry["value"]["errors"]
        ]
        if body.get("error_count") and not errors:
            errors.append(f"{body['error_count']} error(s) without a field")
        return errors

    def wait_running(self, name: str, timeout_s: float = 120) -> dict[str, Any]:
        """Until the connector and all its tasks are RUNNING; a FAILED one raises with its trace."""

        def running() -> dict[str, Any]:
            resp = self.request("GET", f"/connectors/{name}/status")
            if not resp.ok:
                raise NotYet(f"status answered {resp.status_code}")
            status: dict[str, Any] = resp.json()
            states = [status["connector"], *status.get("tasks", [])]
            failed = [s for s in states if s["state"] == "FAILED"]
            if failed:
                trace = "\n".join(s.get("trace", "(no trace)") for s in failed)
                raise ConnectError(f"{name} FAILED:\n{trace}")
            if not (status.get("tasks") and all(s["state"] == "RUNNING" for s in states)):
                raise NotYet(json.dumps(status))
            return status

        return wait_until(running, timeout_s, f"{name} RUNNING", hint="see `shopstream connectors status`")

    def apply(self, name: str, config: dict[str, str], timeout_s: float = 120) -> Applied:
        """The connector's config as given: PUT only when it differs from the one Connect stores
        (deploying twice writes nothing the second time), then wait until it and its tasks RUN."""
        changes = diff(config, self.config(name))
        created = False
        if changes:
            resp = self.request("PUT", f"/connectors/{name}/config", json=config)
            if not resp.ok:
                raise ConnectError(f"PUT {name}: {resp.status_code} {resp.text.strip()[:1000]}")
            created = resp.status_code == 201
        status = self.wait_running(name, timeout_s)
        return Applied(created, changes, len(status["tasks"]))
