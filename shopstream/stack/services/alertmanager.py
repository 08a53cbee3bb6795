"""Alertmanager (Debian's ``prometheus-alertmanager``) as a service of the local stack: one instance
on 127.0.0.1 (clustering off: its gossip port would otherwise listen on every interface), its
silences and notification log in the state dir.

Every alert goes to one receiver, ``shopstream``: the webhook ``SHOPSTREAM_ALERTMANAGER_WEBHOOK_URL``
names, or nothing when it is empty (the alerts are then listed by `shopstream alerts` and
Alertmanager's UI only). ``SHOPSTREAM_ALERTMANAGER_CONFIG_FILE`` replaces this configuration with one
of your own (Slack, e-mail, PagerDuty receivers: monitoring/README.md).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from shopstream.clients.monitoring import Alertmanager
from shopstream.settings import Settings
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext, require_binary
from shopstream.stack.supervisor import Program

RECEIVER = "shopstream"
GROUP_BY = ["alertname", "connector", "query", "topic", "service"]


def render_config(settings: Settings) -> dict[str, Any]:
    receiver: dict[str, Any] = {"name": RECEIVER}
    if settings.alertmanager.webhook_url:
        receiver["webhook_configs"] = [{"url": settings.alertmanager.webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": GROUP_BY,
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        # a critical alert of a service silences the warnings it causes downstream
        "inhibit_rules": [
            {
                "source_matchers": ["alertname = StackServiceDown"],
                "target_matchers": ["severity = warning"],
            }
        ],
        "receivers": [receiver],
    }


def service(ctx: StackContext) -> Service:
    home = ctx.paths.service_dir("alertmanager")
    config = home / "alertmanager.yml"

    def rendered() -> str:
        own = ctx.settings.alertmanager.config_file  # receivers of your own (monitoring/README.md)
        return (
            own.read_text() if own is not None else json.dumps(render_config(ctx.settings), indent=1) + "\n"
        )

    def prepare() -> None:
        config.write_text(rendered())

    def program() -> Program:
        s = ctx.settings
        return Program(
            "alertmanager",
            [
                require_binary("prometheus-alertmanager", "prometheus-alertmanager"),
                f"--config.file={config}",
                f"--storage.path={home / 'data'}",
                f"--web.listen-address=127.0.0.1:{s.alertmanager.port}",
                "--cluster.listen-address=",  # one instance: no gossip port
                "--log.level=warn",
            ],
            # changes with the configuration: `stack up` restarts Alertmanager to load it
            environment={
                "SHOPSTREAM_ALERTMANAGER_CONFIG": hashlib.sha256(rendered().encode()).hexdigest()[:16]
            },
            restart=RestartPolicy(startsecs=3),
        )

    return Service(
        name="alertmanager",
        ports={ctx.settings.alertmanager.port: "SHOPSTREAM_ALERTMANAGER_URL"},
        program=program,
        probe=lambda: Alertmanager(ctx.settings.alertmanager, timeout_s=3).version(),
        prepare=prepare,
    )
