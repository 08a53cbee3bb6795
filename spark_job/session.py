"""The job's SparkSession: connector jars from the project's Maven cache, UI on loopback."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

from compose.stack.errors import MissingPrerequisite
from compose.stack.services.base import StackContext
from scripts.settings import Settings


def spark_session(
    settings: Settings, app_name: str = "shopstream", master: str | None = None
) -> SparkSession:
    """Build (or return) the session; fails with a fix if Java or the jars are missing."""
    ctx = StackContext(settings)
    os.environ.setdefault("JAVA_HOME", str(ctx.jdk.home))  # Spark 4.1 runs on Java 17+
    jars = ctx.artifacts.spark_jars
    if not jars:
        raise MissingPrerequisite(
            "Spark connector jars missing: run scripts/setup.sh (or `shopstream fetch`)"
        )
    return (
        SparkSession.builder.master(master or settings.spark_master)
        .appName(app_name)
        .config("spark.jars", ",".join(str(j) for j in jars))
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.port", str(settings.spark_ui_port))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config(
            "spark.sql.streaming.stateStore.providerClass",
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        )
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.warehouse.dir", str(settings.state_dir / "spark" / "warehouse"))
        .getOrCreate()
    )
