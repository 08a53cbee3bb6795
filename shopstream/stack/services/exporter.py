"""The stack exporter (``shopstream.stack.exporter``) as a service of the local stack: every
service's health probe and the supervisor's books, for Prometheus, on 127.0.0.1."""

from __future__ import annotations

import sys

import requests

from shopstream.errors import StackError
from shopstream.settings import ALL
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.supervisor import Program


def _probe(ctx: StackContext) -> str:
    url = f"http://127.0.0.1:{ctx.settings.monitoring.stack_metrics_port}/metrics"
    try:
        resp = requests.get(url, timeout=3)
    except requests.RequestException as exc:
        raise StackError(
            f"stack exporter unreachable at {url} ({type(exc).__name__})",
            "is it running (`shopstream stack status`) and is SHOPSTREAM_STACK_METRICS_PORT right?",
        ) from exc
    if resp.status_code != 200 or "shopstream_stack_exporter_refreshed_timestamp_seconds" not in resp.text:
        raise StackError(f"stack exporter at {url}: HTTP {resp.status_code}, no probe results yet")
    return "shopstream"


def service(ctx: StackContext) -> Service:
    def program() -> Program:
        return Program(
            "exporter",
            [sys.executable, "-m", "shopstream.stack.exporter"],
            # the settings of this stack (it probes every service as `stack status` does)
            environment=ctx.settings.env_for(ALL),
            directory=ctx.paths.state,
            restart=RestartPolicy(startsecs=3),
        )

    return Service(
        name="exporter",
        ports={ctx.settings.monitoring.stack_metrics_port: "SHOPSTREAM_STACK_METRICS_PORT"},
        program=program,
        probe=lambda: _probe(ctx),
    )
