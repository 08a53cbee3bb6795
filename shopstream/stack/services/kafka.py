"""Apache Kafka 4.x brokers in KRaft mode (each a combined broker+controller), from Maven Central jars.

One broker per bootstrap server (``SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS``): the single node by default,
three in the cluster profile, each with its own ports, directory and node id, all of them voters of
one quorum (static ``controller.quorum.voters``), formatted with one cluster id. The brokers of a
quorum start together (none answers before a majority runs); the users, ACLs and topics are
bootstrapped once they all answer. Replication factor and ``min.insync.replicas`` of every topic,
internal ones included, are the settings' (``SHOPSTREAM_KAFKA_REPLICATION_FACTOR``/``_MIN_INSYNC_REPLICAS``).

Secured (``SHOPSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT``, the default): the client listener on
127.0.0.1 takes SASL/SCRAM (TLS on loopback would cost CPU and protect nothing); the controller
listener takes SASL/PLAIN from one static user ``controller`` whose password the stack generates once
and the brokers share (SCRAM users live in the metadata log, which the controller listener must serve
first). The
StandardAuthorizer denies what no ACL allows; the super users are the admin and ``controller``, never
ANONYMOUS. The admin's SCRAM credential is written into the storage when it is formatted (StorageTool
``--add-scram`` from a mode-600 argument file, deleted afterwards: no password in a command line); the
other roles' are upserted by the bootstrap through the Admin API, with the ACLs. Passwords reach the
broker through ``${file:...}`` references to a mode-600 file, never its command line or config.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from shopstream.clients.kafka import admin_client, check_reachable
from shopstream.clients.kafka_acls import ensure_acls, ensure_pipeline, worker_grants
from shopstream.errors import StackError
from shopstream.retry import NotYet, wait_until
from shopstream.settings import KAFKA_ROLES, Settings
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.jmx_exporter import jmx_exporter_agent
from shopstream.stack.services.jvm import java_command, properties_value, write_properties, write_secret
from shopstream.stack.supervisor import Program

CONTROLLER_USER = "controller"
SCRAM_ITERATIONS = 8192
FILE_PROVIDER = "org.apache.kafka.common.config.provider.FileConfigProvider"


def broker_name(index: int) -> str:
    """The service name of the ``index``-th broker (from 0): ``kafka``, then ``kafka-2``, ``kafka-3``."""
    return "kafka" if index == 0 else f"kafka-{index + 1}"


def _home(ctx: StackContext, index: int) -> Path:
    return ctx.paths.service_dir(broker_name(index))


def _secrets_file(ctx: StackContext, index: int) -> Path:
    return _home(ctx, index) / "secrets.properties"


def controller_port(settings: Settings, index: int) -> int:
    return settings.kafka.controller_port + index


def _shared_secret(ctx: StackContext, name: str, make: Callable[[], str]) -> str:
    """A value every broker of the stack uses alike (the cluster id, the controller password), made
    once and kept (mode 600) in the first broker's directory."""
    path = _home(ctx, 0) / name
    if not path.exists():
        write_secret(path, make())
    return path.read_text().strip()


def _secured(settings: Settings) -> bool:
    """Whether the local broker runs SASL with ACLs; refuses what only a remote cluster can be."""
    if settings.kafka.security_protocol == "SASL_SSL":
        raise StackError(
            "the local broker serves SASL_PLAINTEXT on 127.0.0.1 (TLS on loopback protects nothing); "
            "SASL_SSL is for remote clusters",
            "set SHOPSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT for the local stack",
        )
    if settings.kafka.sasl and not settings.kafka.sasl_mechanism.startswith("SCRAM"):
        raise StackError(
            f"the local broker authenticates with SCRAM, not {settings.kafka.sasl_mechanism}",
            "set SHOPSTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512 for the local stack",
        )
    return settings.kafka.sasl


def _security_properties(ctx: StackContext, index: int) -> dict[str, str | int]:
    s = ctx.settings
    port, controller = s.kafka.servers[index][1], controller_port(s, index)
    if not _secured(s):
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }
    mechanism, admin = s.kafka.sasl_mechanism, s.kafka.admin_user
    secret = f"${{file:{_secrets_file(ctx, index)}:"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return {
        "listeners": f"CLIENT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"CLIENT://127.0.0.1:{port}",
        "inter.broker.listener.name": "CLIENT",
        "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT",
        "config.providers": "file",
        "config.providers.file.class": FILE_PROVIDER,
        # the controller listener: SASL/PLAIN, one static user (the broker itself, to its controller)
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": f'{plain} required username="{CONTROLLER_USER}" '
        f'password="{secret}controller.password}}" user_{CONTROLLER_USER}="{secret}controller.password}}";',
        # the client (and inter-broker) listener: SCRAM
        "listener.name.client.sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.client.{mechanism.lower()}.sasl.jaas.config": f'{scram} required username="{admin}" '
        f'password="{secret}admin.password}}";',
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{admin};User:{CONTROLLER_USER}",
        "allow.everyone.if.no.acl.found": "false",
    }


def server_properties(ctx: StackContext, index: int = 0) -> dict[str, str | int]:
    s = ctx.settings
    replicas, min_isr = s.kafka.replication_factor, s.kafka.min_insync_replicas
    voters = ",".join(f"{i + 1}@127.0.0.1:{controller_port(s, i)}" for i in range(len(s.kafka.servers)))
    return {
        "process.roles": "broker,controller",
        "node.id": index + 1,
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        **_security_properties(ctx, index),
        "log.dirs": str(_home(ctx, index) / "data"),
        "num.partitions": 3,
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
        # Topics are created on purpose (`stack up`, Connect, Debezium), never by a typo.
        "auto.create.topics.enable": "false",
        "log.retention.hours": 168,
        "log.segment.bytes": 256 * 1024 * 1024,
        "message.max.bytes": 8 * 1024 * 1024,
    }


def _cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as `random-uuid`)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _admin_digest(settings: Settings, salt: bytes) -> str:
    login = settings.kafka.login("admin")
    return hashlib.pbkdf2_hmac("sha256", f"{login.user}:{login.secret}".encode(), salt, 200_000).hex()


def _check_formatted_admin(ctx: StackContext, index: int) -> None:
    """The storage's admin credential was set at format time: fail naming the fix when the settings'
    admin is not that one (or the storage predates security)."""
    marker = _home(ctx, index) / "security.json"
    if not _secured(ctx.settings):
        return
    hint = (
        "set SHOPSTREAM_KAFKA_ADMIN_USER/_PASSWORD back to the ones the storage was formatted with, or "
        "`shopstream stack down --purge` (drops the stack's data) and `stack up`"
    )
    if not marker.exists():
        raise StackError("the local Kafka storage was formatted without SCRAM users (before security)", hint)
    recorded = json.loads(marker.read_text())
    if recorded["admin"] != _admin_digest(ctx.settings, bytes.fromhex(recorded["salt"])):
        raise StackError(
            "the Kafka admin in the settings is not the one the local storage was formatted with", hint
        )


def _prepare(ctx: StackContext, index: int) -> None:
    home = _home(ctx, index)
    config = home / "server.properties"
    write_properties(config, server_properties(ctx, index))
    if _secured(ctx.settings):
        admin = ctx.settings.kafka.login("admin")
        if not admin.secret:
            raise StackError(f"{admin.password_setting} is empty", admin.hint)
        # the controller's password is the brokers' own, to each other: made once, shared by them all
        controller = _shared_secret(ctx, "controller.password", lambda: secrets.token_urlsafe(24))
        passwords = {"admin.password": admin.secret, "controller.password": controller}
        write_secret(
            _secrets_file(ctx, index), "".join(f"{k}={properties_value(v)}\n" for k, v in passwords.items())
        )
    if (home / "data" / "meta.properties").exists():
        _check_formatted_admin(ctx, index)
        return
    args: list[str] = []
    args_file = home / "format.args"
    if _secured(ctx.settings):
        admin = ctx.settings.kafka.login("admin")
        if '"' in admin.secret or '"' in admin.user:
            raise StackError(f"{admin.password_setting} must not contain a double quote", admin.hint)
        credential = f'{ctx.settings.kafka.sasl_mechanism}=[name={admin.user},password="{admin.secret}"]'
        write_secret(args_file, f"--add-scram\n{credential}\n")
        args = [f"@{args_file}"]
    cmd = java_command(
        ctx.jdk.java,
        "256m",
        home / "log4j2.properties",
        ctx.artifacts.kafka_libs,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        _shared_secret(ctx, "cluster.id", _cluster_id),
        "-c",
        str(config),
        *args,
    )
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        args_file.unlink(missing_ok=True)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")
    salt = secrets.token_bytes(16)
    marker = (
        {"salt": salt.hex(), "admin": _admin_digest(ctx.settings, salt)} if _secured(ctx.settings) else {}
    )
    write_secret(home / "security.json", json.dumps(marker))


def _bootstrap(ctx: StackContext) -> None:
    """The roles' SCRAM users (upserted: a password changed in .env takes effect here), the worker's
    and the pipeline's ACLs, the project's topics."""
    s = ctx.settings
    check_reachable(s.kafka)  # one error naming the address, not an admin request waiting forever
    brokers = len(s.kafka.servers)

    def registered() -> int:  # the quorum's brokers, before a topic is replicated over them
        found = len(check_reachable(s.kafka).brokers)
        if found < brokers:
            raise NotYet(f"{found} of {brokers} brokers registered")
        return found

    wait_until(registered, ctx.settings.stack.timeout_s, f"{brokers} Kafka brokers registered", every_s=0.5)
    if _secured(s):
        mechanism = getattr(ScramMechanism, s.kafka.sasl_mechanism.replace("-", "_"))
        info = ScramCredentialInfo(mechanism, SCRAM_ITERATIONS)
        upserts: list[UserScramCredentialAlteration] = []
        for role in KAFKA_ROLES:
            login = s.kafka.login(role)
            if role == "admin":
                continue  # formatted into the storage
            if not login.secret:
                raise StackError(f"{login.password_setting} is empty", login.hint)
            upserts.append(UserScramCredentialUpsertion(login.user, info, login.secret.encode()))
        admin = admin_client(s.kafka)  # alive until the futures are done
        for future in admin.alter_user_scram_credentials(upserts, request_timeout=30).values():
            future.result()
        users = {upsert.user for upsert in upserts}

        def known() -> bool:
            future = admin.describe_user_scram_credentials()
            assert isinstance(future, Future)  # all users: one future
            described = future.result()
            if missing := users - set(described):
                raise NotYet(f"SCRAM users not yet known: {sorted(missing)}")
            return True

        wait_until(known, 30, "Kafka SCRAM users created", every_s=0.2)
        ensure_acls(s, worker_grants())
    ensure_pipeline(s)


def _probe(ctx: StackContext, index: int) -> str:
    # this broker alone; names the address and the setting when it fails
    check_reachable(ctx.settings.kafka.server(index), timeout_s=3)
    return ctx.artifacts.kafka_version


def _controller_listening(ctx: StackContext, index: int) -> str:
    """Ready to wait for its quorum: the broker's controller listener accepts connections."""
    port = controller_port(ctx.settings, index)
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return f"controller listening on {port}"


def metrics_port(settings: Settings, index: int) -> int:
    return settings.monitoring.kafka_metrics_port + index


def services(ctx: StackContext) -> list[Service]:
    """One service per bootstrap server, in node id order."""
    return [_service(ctx, index) for index in range(len(ctx.settings.kafka.servers))]


def _service(ctx: StackContext, index: int) -> Service:
    name = broker_name(index)
    last = index == len(ctx.settings.kafka.servers) - 1

    def program() -> Program:
        home = _home(ctx, index)
        return Program(
            name,
            java_command(
                ctx.jdk.java,
                ctx.settings.kafka.heap,
                home / "log4j2.properties",
                ctx.artifacts.kafka_libs,
                "kafka.Kafka",
                str(home / "server.properties"),
                agents=jmx_exporter_agent(ctx, "kafka", metrics_port(ctx.settings, index)),
            ),
            restart=RestartPolicy(startsecs=10),
        )

    s = ctx.settings
    ports = {
        s.kafka.servers[index][1]: "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS",
        controller_port(s, index): "SHOPSTREAM_KAFKA_CONTROLLER_PORT",
    }
    if s.monitoring.enabled:
        ports[metrics_port(s, index)] = "SHOPSTREAM_KAFKA_METRICS_PORT"
    return Service(
        name=name,
        ports=ports,
        program=program,
        probe=lambda: _probe(ctx, index),
        prepare=lambda: _prepare(ctx, index),
        # the quorum's brokers start together: each but the last is only waited for listening, and
        # the last (a quorum by then) bootstraps users, ACLs and topics for them all
        bootstrap=(lambda: _bootstrap(ctx)) if last else (lambda: None),
        ready=None if last else (lambda: _controller_listening(ctx, index)),
        with_next=not last,
    )
