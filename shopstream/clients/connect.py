"""Kafka Connect's REST API: requests with a retry while the worker group rebalances (409)."""

from __future__ import annotations

from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from shopstream.clients import http
from shopstream.errors import ConnectError


class Rebalancing(ConnectError):
    """409 (or 500 "a rebalance is expected"): the worker group is rebalancing; the request is
    retried."""


class ConnectClient:
    def __init__(self, url: str, timeout_s: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    @retry(
        retry=retry_if_exception_type(Rebalancing),
        wait=wait_exponential(multiplier=0.25, max=4),
        stop=stop_after_delay(60),
        reraise=True,
    )
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = requests.request(
                method, f"{self.url}{path}", timeout=http.timeout(self.timeout_s), **kwargs
            )
        except requests.RequestException as exc:
            raise ConnectError(
                f"Kafka Connect unreachable at {self.url} ({http.reason(exc)})",
                "is it running (`shopstream stack status`) and is SHOPSTREAM_CONNECT_URL right?",
            ) from exc
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
