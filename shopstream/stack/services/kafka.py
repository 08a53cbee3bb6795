"""Apache Kafka 4.x broker in KRaft mode (combined broker+controller), from Maven Central jars."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from shopstream.clients.kafka import check_reachable, ensure_topics
from shopstream.errors import StackError
from shopstream.stack.restarts import RestartPolicy
from shopstream.stack.services.base import Service, StackContext
from shopstream.stack.services.jvm import java_command, write_properties
from shopstream.stack.supervisor import Program


def _home(ctx: StackContext) -> Path:
    return ctx.paths.service_dir("kafka")


def server_properties(ctx: StackContext) -> dict[str, str | int]:
    s = ctx.settings
    return {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@127.0.0.1:{s.kafka_controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
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


def _prepare(ctx: StackContext) -> None:
    home = _home(ctx)
    config = home / "server.properties"
    write_properties(config, server_properties(ctx))
    if (home / "data" / "meta.properties").exists():
        return
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
    )
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{result.stdout}\n{result.stderr}")


def _probe(ctx: StackContext) -> str:
    check_reachable(ctx.settings, timeout_s=3)  # names the address and the setting when it fails
    return ctx.artifacts.kafka_version


def service(ctx: StackContext) -> Service:
    def program() -> Program:
        home = _home(ctx)
        return Program(
            "kafka",
            java_command(
                ctx.jdk.java,
                ctx.settings.kafka_heap,
                home / "log4j2.properties",
                ctx.artifacts.kafka_libs,
                "kafka.Kafka",
                str(home / "server.properties"),
            ),
            restart=RestartPolicy(startsecs=10),
        )

    s = ctx.settings
    return Service(
        name="kafka",
        ports={
            s.kafka_port: "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS",
            s.kafka_controller_port: "SHOPSTREAM_KAFKA_CONTROLLER_PORT",
        },
        program=program,
        probe=lambda: _probe(ctx),
        prepare=lambda: _prepare(ctx),
        bootstrap=lambda: ensure_topics(ctx.settings),
    )
