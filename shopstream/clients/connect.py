"""Kafka Connect's REST API: requests with a retry while the worker group rebalances (409), with the
REST basic auth identity of the settings (Kafka's ``BasicAuthSecurityRestExtension`` on the local
worker); and the secrets a worker's environment must hold for the shipped connector configs.
"""

from __future__ import annotations

from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from shopstream.clients import http
from shopstream.errors import ConnectError
from shopstream.settings import ConnectSettings, Settings

# ${env:NAME} references of the connector configs: the worker's EnvVarConfigProvider resolves them,
# so that no secret reaches Connect's config topic or its REST answers
KAFKA_PASSWORD_ENV = "SHOPSTREAM_KAFKA_CONNECT_PASSWORD"
REGISTRY_PASSWORD_ENV = "SHOPSTREAM_SCHEMA_REGISTRY_CONNECT_PASSWORD"  # (or the admin's: its fallback)
CDC_PASSWORD_ENV = "SHOPSTREAM_MYSQL_CDC_PASSWORD"
INFLUXDB_PASSWORD_ENV = "SHOPSTREAM_INFLUXDB_WRITER_PASSWORD"


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


class Rebalancing(ConnectError):
    """409 (or 500 "a rebalance is expected"): the worker group is rebalancing; the request is
    retried."""


class ConnectClient:
    def __init__(self, connect: ConnectSettings, timeout_s: float = 30, url: str | None = None) -> None:
        self.url = (url or connect.url).rstrip("/")
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
        try:
            resp = requests.request(
                method, f"{self.url}{path}", timeout=http.timeout(self.timeout_s), auth=self.auth, **kwargs
            )
        except requests.RequestException as exc:
            raise ConnectError(
                f"Kafka Connect unreachable at {self.url} ({http.reason(exc)})",
                "is it running (`shopstream stack status`) and is SHOPSTREAM_CONNECT_URL right?",
            ) from exc
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
