"""Shared pieces of the JVM services (Kafka broker, Kafka Connect)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shopstream.stack.paths import write_secret

__all__ = ["java_command", "properties_value", "write_properties", "write_secret"]

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = info
logger.reflections.name = org.reflections
logger.reflections.level = error
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
"""


def write_properties(path: Path, props: dict[str, str | int]) -> None:
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))


def properties_value(value: str) -> str:
    """A value for a java.util.Properties file (backslashes, and what would end or split the line)."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.replace(":", "\\:").replace("=", "\\=")


def java_command(
    java: Path,
    heap: str,
    log4j: Path,
    classpath: Path,
    main: str,
    *args: str,
    agents: Sequence[str] = (),
    properties: Sequence[str] = (),
) -> list[str]:
    """A JVM command line with a bounded heap and log4j2 writing to stdout (the supervisor's log);
    ``agents`` are ``-javaagent:`` values (jar=options), ``properties`` ``-D`` system properties (paths,
    never secrets: a command line is visible to every local user)."""
    log4j.write_text(LOG4J2)
    return [
        str(java),
        *(f"-javaagent:{agent}" for agent in agents),
        *(f"-D{prop}" for prop in properties),
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        "-Djava.net.preferIPv4Stack=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{classpath}/*",
        main,
        *args,
    ]
