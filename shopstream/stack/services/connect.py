"""Kafka Connect 4.x in distributed mode with the stack's plugins on its plugin.path.

One worker per Connect URL (``SHOPSTREAM_CONNECT_URL``), all of one group: one by default, two in the
cluster profile, each with its own REST port, directory, Jolokia and exporter ports. A request to a
follower is forwarded to the leader with its Authorization header; a dead worker's connectors and
tasks move to the others after ``SHOPSTREAM_CONNECT_REBALANCE_DELAY_MS``.

Each plugin sits in its own folder (linked from the artefact cache, or, for shopstream's InfluxDB
sink, from its build) under ``plugin.path``; the ``env`` config provider lets connector configs say
``${env:NAME}`` instead of holding secrets. The Jolokia agent serves the worker's JMX metrics (the
sink's points, latency percentiles and dead letters among them) over HTTP on loopback.

Security: the worker's own Kafka clients and its connectors' producers, consumers and admin clients
(``producer.``/``consumer.``/``admin.``: the top-level keys do not reach the first two) connect as the
Connect role, the password resolved from the environment by the worker (``${env:...}``). The REST API
asks for basic auth (Kafka's ``BasicAuthSecurityRestExtension``: a JAAS file naming a mode-600
credentials file), and so does the Jolokia agent (its options come from a mode-600 properties file:
the agent's command-line options would show the password to every local user).
"""

from __future__ import annotations

from pathlib import Path

from shopstream.clients.connect import KAFKA_PASSWORD_ENV, ConnectClient, env_ref, worker_secrets
from shopstream.clients.kafka import java_security_config
from shopstream.settings import Settings
from shopstream.stack.artifacts import ensure_sink_plugin, sink_sources_digest
from shopstream.stack.influxd import ensure_influxd
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.jmx_exporter import jmx_exporter_agent
from shopstream.stack.services.jvm import java_command, properties_value, write_properties, write_secret
from shopstream.stack.supervisor import Program

REST_EXTENSION = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"
REST_LOGIN_MODULE = "org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule"
CLIENT_PREFIXES = ("", "producer.", "consumer.", "admin.")


def worker_security(ctx: StackContext) -> dict[str, str]:
    """The Kafka client security of the worker and of its connectors' clients, as the Connect role."""
    security = java_security_config(ctx.settings.kafka, "connect", password=env_ref(KAFKA_PASSWORD_ENV))
    return {f"{prefix}{key}": value for prefix in CLIENT_PREFIXES for key, value in security.items()}


def worker_name(index: int) -> str:
    """The service name of the ``index``-th worker (from 0): ``connect``, then ``connect-2``."""
    return "connect" if index == 0 else f"connect-{index + 1}"


def worker_properties(ctx: StackContext, plugin_path: Path, index: int = 0) -> dict[str, str | int]:
    s = ctx.settings
    port = ctx.settings.connect.worker(index).port
    rest = {"rest.extension.classes": REST_EXTENSION} if s.connect.login() else {}
    return {
        "bootstrap.servers": s.kafka.bootstrap_servers,
        "group.id": "shopstream-connect",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": s.kafka.replication_factor,
        "offset.storage.replication.factor": s.kafka.replication_factor,
        "status.storage.replication.factor": s.kafka.replication_factor,
        "offset.flush.interval.ms": 5000,
        "scheduled.rebalance.max.delay.ms": s.connect.rebalance_delay_ms,
        "listeners": f"http://127.0.0.1:{port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": port,
        "plugin.path": str(plugin_path),
        "config.providers": "env",
        "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        **worker_security(ctx),
        **rest,
    }


def _rest_auth_files(ctx: StackContext, home: Path) -> list[str]:
    """The REST API's JAAS file and its credentials file (mode 600): ``-D`` system properties naming the
    JAAS file (none when Connect runs without REST authentication)."""
    login = ctx.settings.connect.login()
    if login is None:
        return []
    # an empty credentials file would let every request in (PropertyFileLoginModule): never empty
    credentials = write_secret(
        home / "rest-credentials.properties",
        f"{properties_value(login.user)}={properties_value(login.secret)}\n",
    )
    jaas = home / "rest-jaas.conf"
    jaas.write_text(f'KafkaConnect {{\n  {REST_LOGIN_MODULE} required\n  file="{credentials}";\n}};\n')
    return [f"java.security.auth.login.config={jaas}"]


def _jolokia_agent(ctx: StackContext, home: Path, index: int) -> list[str]:
    """The Jolokia agent on loopback, its options (basic auth with the REST identity) in a mode-600
    file: the command line names only the file."""
    port = ctx.settings.connect.worker(index).jolokia_port
    if not port:
        return []
    options = {"host": "127.0.0.1", "port": str(port)}
    login = ctx.settings.connect.login()
    if login is not None:
        options |= {"user": login.user, "password": login.secret}
    config = home / "jolokia.properties"
    write_secret(config, "".join(f"{k}={properties_value(v)}\n" for k, v in options.items()))
    return [f"{ctx.artifacts.jolokia_agent}=config={config}"]


def _link_plugins(ctx: StackContext, home: Path) -> Path:
    plugin_path = home / "plugins"
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


def _probe(ctx: StackContext, index: int) -> str:
    # this worker alone; names address and setting (and a refused login)
    client = ConnectClient(ctx.settings.connect.worker(index), timeout_s=10)
    root = client.json("GET", "/")
    client.json("GET", "/connector-plugins")
    return str(root.get("version", "?"))


def metrics_port(settings: Settings, index: int) -> int:
    return settings.monitoring.connect_metrics_port + index


def services(ctx: StackContext) -> list[Service]:
    """One worker per Connect URL."""
    return [_service(ctx, index) for index in range(len(ctx.settings.connect.urls))]


def _service(ctx: StackContext, index: int) -> Service:
    name = worker_name(index)
    home_dir = ctx.paths.service_dir(name)
    config = home_dir / "worker.properties"
    worker = ctx.settings.connect.worker(index)

    def prepare() -> None:
        # only when `stack up` (re)starts Connect: a restart by the supervisor reads the same file
        write_properties(config, worker_properties(ctx, _link_plugins(ctx, home_dir), index))

    def program() -> Program:
        ensure_sink_plugin(ensure_influxd(ctx.paths.cache))
        return Program(
            name,
            java_command(
                ctx.jdk.java,
                ctx.settings.connect.heap,
                home_dir / "log4j2.properties",
                ctx.artifacts.kafka_libs,
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(config),
                agents=[
                    *_jolokia_agent(ctx, home_dir, index),
                    *jmx_exporter_agent(ctx, "connect", metrics_port(ctx.settings, index)),
                ],
                properties=_rest_auth_files(ctx, home_dir),
            ),
            environment={
                # changes when the sink is rebuilt, so that `stack up` restarts Connect to load it
                "SHOPSTREAM_SINK_BUILD": sink_sources_digest()[:16],
                # what ${env:...} in the worker's and the connectors' configs resolve to
                **worker_secrets(ctx.settings),
            },
            restart=RestartPolicy(startsecs=10),
        )

    ports = {worker.port: "SHOPSTREAM_CONNECT_URL"}
    if worker.jolokia_port:
        ports[worker.jolokia_port] = "SHOPSTREAM_CONNECT_JOLOKIA_URL"
    if ctx.settings.monitoring.enabled:
        ports[metrics_port(ctx.settings, index)] = "SHOPSTREAM_CONNECT_METRICS_PORT"
    return Service(
        name=name,
        ports=ports,
        program=program,
        probe=lambda: _probe(ctx, index),
        prepare=prepare,
    )
