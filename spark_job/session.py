"""The job's SparkSession on the JDK and connector jars its caller gives (the job fetches and looks
up nothing: `shopstream spark run` resolves them, see ``shopstream.stack.artifacts.spark_runtime``),
UI on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from shopstream.settings import Settings
from spark_job.metrics import monitoring_conf

REDACT_PASSWORDS = r'(?i)password="[^"]*"'
# The KPI query's state: one row per window and key for the aggregation, and one per event id within
# the watermark for the de-duplication (millions at 12k events/s): see the README for the measurements
# that chose the default (SHOPSTREAM_SPARK_STATE_STORE).
STATE_STORES = {
    "rocksdb": "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
    "hdfs": "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
}
LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDERR
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = STDERR
# one warning per task about nullable columns that are never null here: noise, and costly at volume
logger.avro.name = org.apache.spark.sql.avro.AvroSerializer
logger.avro.level = error
logger.kafka.name = org.apache.kafka
logger.kafka.level = error
"""


@dataclass(frozen=True)
class SparkRuntime:
    """What a session runs on: a JDK 17+ and the connector jars (Kafka, Avro, MariaDB JDBC)."""

    java_home: Path
    jars: Sequence[Path]


def cluster_conf(settings: Settings, master: str, slots: int) -> dict[str, str]:
    """What an application on a standalone master needs: at most ``slots`` task slots, as one-slot
    executors (after a worker dies, each lost slot is relaunched alone on a worker with room), this
    interpreter for the Python workers, and the cluster's shared secret."""
    if not master.startswith("spark://"):
        return {}
    conf = {
        "spark.cores.max": str(slots),
        "spark.executor.cores": "1",
        "spark.executor.memory": "768m",
        "spark.pyspark.python": sys.executable,
    }
    secret = settings.spark.auth_secret.get_secret_value()
    if secret:
        conf |= {"spark.authenticate": "true", "spark.authenticate.secret": secret}
    return conf


def spark_session(
    settings: Settings,
    runtime: SparkRuntime,
    app_name: str = "shopstream",
    master: str | None = None,
    slots: int = 2,
) -> SparkSession:
    """Build (or return) the session; on a standalone master it takes ``slots`` task slots."""
    os.environ.setdefault("JAVA_HOME", str(runtime.java_home))
    master = master or settings.spark.master
    jars = runtime.jars
    log4j = settings.stack.state_dir / "spark" / "log4j2.properties"
    log4j.parent.mkdir(parents=True, exist_ok=True)
    log4j.write_text(LOG4J2)
    builder = SparkSession.builder
    for key, value in (monitoring_conf(settings) | cluster_conf(settings, master, slots)).items():
        builder = builder.config(key, value)  # Prometheus servlet, streaming metrics; a cluster's needs
    return (
        builder.master(master)
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.port", str(settings.spark.ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        # collect_set (exact distinct users) is an object aggregate: past 128 keys per task Spark
        # would sort the whole batch instead of hashing it (3x slower KPI batches, measured).
        .config("spark.sql.objectHashAggregate.sortBased.fallbackThreshold", "1000000")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.streaming.stateStore.providerClass", STATE_STORES[settings.spark.state_store])
        .config("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
        .config("spark.driver.memory", "2g")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j}")
        .config("spark.sql.warehouse.dir", str(settings.stack.state_dir / "spark" / "warehouse"))
        # the Kafka options' JAAS line carries the password: plans (explain, the UI's SQL tab) and
        # logged strings show it redacted (option keys and values are redacted by spark.redaction.regex)
        .config("spark.sql.redaction.string.regex", REDACT_PASSWORDS)
        .config("spark.redaction.string.regex", REDACT_PASSWORDS)
        .getOrCreate()
    )
