"""Apache Kafka 4.x broker in KRaft mode (combined broker+controller), from Maven Central jars.

Secured (``SHOPSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT``, the default): the client listener on
127.0.0.1 takes SASL/SCRAM (TLS on loopback would cost CPU and protect nothing); the controller
listener takes SASL/PLAIN from one static user ``controller`` whose password the stack generates at
each start (SCRAM users live in the metadata log, which the controller listener must serve first). The
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
import subprocess
import uuid
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


def _home(ctx: StackContext) -> Path:
    return ctx.paths.service_dir("kafka")


def _secrets_file(ctx: StackContext) -> Path:
    return _home(ctx) / "secrets.properties"


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


def _security_properties(ctx: StackContext) -> dict[str, str | int]:
    s = ctx.settings
    if not _secured(s):
        return {
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka.port},CONTROLLER://127.0.0.1:{s.kafka.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        }
    mechanism, admin = s.kafka.sasl_mechanism, s.kafka.admin_user
    secret = f"${{file:{_secrets_file(ctx)}:"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    return {
        "listeners": f"CLIENT://127.0.0.1:{s.kafka.port},CONTROLLER://127.0.0.1:{s.kafka.controller_port}",
        "advertised.listeners": f"CLIENT://127.0.0.1:{s.kafka.port}",
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


def server_properties(ctx: StackContext) -> dict[str, str | int]:
    s = ctx.settings
    return {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@127.0.0.1:{s.kafka.controller_port}",
        "controller.listener.names": "CONTROLLER",
        **_security_properties(ctx),
        "log.dirs": str(_home(ctx) / "data"),
        "num.partitions": 3,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
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


def _check_formatted_admin(ctx: StackContext) -> None:
    """The storage's admin credential was set at format time: fail naming the fix when the settings'
    admin is not that one (or the storage predates security)."""
    marker = _home(ctx) / "security.json"
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


def _prepare(ctx: StackContext) -> None:
    home = _home(ctx)
    config = home / "server.properties"
    write_properties(config, server_properties(ctx))
    if _secured(ctx.settings):
        admin = ctx.settings.kafka.login("admin")
        if not admin.secret:
            raise StackError(f"{admin.password_setting} is empty", admin.hint)
        # the controller's password is the broker's own: a new one at each start
        passwords = {"admin.password": admin.secret, "controller.password": secrets.token_urlsafe(24)}
        write_secret(
            _secrets_file(ctx), "".join(f"{k}={properties_value(v)}\n" for k, v in passwords.items())
        )
    if (home / "data" / "meta.properties").exists():
        _check_formatted_admin(ctx)
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
        _cluster_id(),
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


def _probe(ctx: StackContext) -> str:
    check_reachable(ctx.settings.kafka, timeout_s=3)  # names the address and the setting when it fails
    return ctx.artifacts.kafka_version


def service(ctx: StackContext) -> Service:
    def program() -> Program:
        home = _home(ctx)
        return Program(
            "kafka",
            java_command(
                ctx.jdk.java,
                ctx.settings.kafka.heap,
                home / "log4j2.properties",
                ctx.artifacts.kafka_libs,
                "kafka.Kafka",
                str(home / "server.properties"),
                agents=jmx_exporter_agent(ctx, "kafka", ctx.settings.monitoring.kafka_metrics_port),
            ),
            restart=RestartPolicy(startsecs=10),
        )

    s = ctx.settings
    ports = {
        s.kafka.port: "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS",
        s.kafka.controller_port: "SHOPSTREAM_KAFKA_CONTROLLER_PORT",
    }
    if s.monitoring.enabled:
        ports[s.monitoring.kafka_metrics_port] = "SHOPSTREAM_KAFKA_METRICS_PORT"
    return Service(
        name="kafka",
        ports=ports,
        program=program,
        probe=lambda: _probe(ctx),
        prepare=lambda: _prepare(ctx),
        bootstrap=lambda: _bootstrap(ctx),
    )
