"""Kafka Connect 4.x in distributed mode with the stack's plugins on its plugin.path.

Each plugin sits in its own folder (linked from the artefact cache, or, for shopstream's InfluxDB
sink, from its build) under ``plugin.path``; the ``env`` config provider lets connector configs say
``${env:NAME}`` instead of holding secrets. The Jolokia agent serves the worker's JMX metrics (the
sink's points, latency percentiles and dead letters among them) over HTTP on loopback.
"""

from __future__ import annotations

from pathlib import Path

from shopstream.clients.connect import ConnectClient
from shopstream.stack.artifacts import ensure_sink_plugin, sink_sources_digest
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.jvm import java_command, write_properties
from shopstream.stack.supervisor import Program


def worker_properties(ctx: StackContext, plugin_path: Path) -> dict[str, str | int]:
    s = ctx.settings
    return {
        "bootstrap.servers": s.kafka_bootstrap_servers,
        "group.id": "shopstream-connect",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "status.storage.replication.factor": 1,
        "offset.flush.interval.ms": 5000,
        "listeners": f"http://127.0.0.1:{s.connect_port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": s.connect_port,
        "plugin.path": str(plugin_path),
        "config.providers": "env",
        "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
    }


def _link_plugins(ctx: StackContext) -> Path:
    plugin_path = ctx.paths.service_dir("connect") / "plugins"
    plugin_path.mkdir(exist_ok=True)
    wanted = ctx.artifacts.connect_plugins
    for stale in plugin_path.iterdir():
        if stale.name not in wanted:
            stale.unlink()
    for name, target in wanted.items():
        link = plugin_path / name
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target, target_is_directory=True)
    return plugin_path


def _probe(ctx: StackContext) -> str:
    client = ConnectClient(ctx.settings.connect_url, timeout_s=10)  # names address and setting
    root = client.json("GET", "/")
    client.json("GET", "/connector-plugins")
    return str(root.get("version", "?"))


def service(ctx: StackContext) -> Service:
    home_dir = ctx.paths.service_dir("connect")

    config = home_dir / "worker.properties"

    def prepare() -> None:
        # only when `stack up` (re)starts Connect: a restart by the supervisor reads the same file
        write_properties(config, worker_properties(ctx, _link_plugins(ctx)))

    def program() -> Program:
        ensure_sink_plugin()
        jolokia = ctx.settings.connect_jolokia_port
        agents = [f"{ctx.artifacts.jolokia_agent}=host=127.0.0.1,port={jolokia}"] if jolokia else []
        return Program(
            "connect",
            java_command(
                ctx.jdk.java,
                ctx.settings.connect_heap,
                home_dir / "log4j2.properties",
                ctx.artifacts.kafka_libs,
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(config),
                agents=agents,
            ),
            environment={
                # changes when the sink is rebuilt, so that `stack up` restarts Connect to load it
                "SHOPSTREAM_SINK_BUILD": sink_sources_digest()[:16],
                "SHOPSTREAM_MYSQL_CDC_PASSWORD": ctx.settings.mysql_cdc_password.get_secret_value(),
                "SHOPSTREAM_INFLUXDB_PASSWORD": ctx.settings.influxdb_password.get_secret_value(),
            },
            restart=RestartPolicy(startsecs=10),
        )

    ports = {ctx.settings.connect_port: "SHOPSTREAM_CONNECT_URL"}
    if ctx.settings.connect_jolokia_port:
        ports[ctx.settings.connect_jolokia_port] = "SHOPSTREAM_CONNECT_JOLOKIA_URL"
    return Service(
        name="connect",
        ports=ports,
        program=program,
        probe=lambda: _probe(ctx),
        prepare=prepare,
    )
