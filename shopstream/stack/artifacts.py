"""The stack's JVM artefacts: fetched from Maven Central by the project's pom, cached outside git;
and shopstream's own InfluxDB sink connector, built from ``connectors/influxdb-sink`` by Maven.

The versions live once, in ``compose/maven/pom.xml``; this module reads them from there. The sink is
rebuilt (with its JUnit tests) whenever its sources change.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shopstream.errors import MissingPrerequisite, StackError
from shopstream.resources import project_file
from shopstream.settings import Settings
from shopstream.stack.java import find_jdk
from shopstream.stack.paths import StackPaths

_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_DOWNLOADED = re.compile(r"Downloaded from [\w-]+: \S+ \(([\d.,]+) (B|kB|MB|GB)")
_UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def maven_dir() -> Path:
    """``compose/maven``: the poms that pin the stack's JVM artefacts."""
    return project_file("compose", "maven")


def pom_properties() -> dict[str, str]:
    pom = maven_dir() / "pom.xml"
    root = ET.parse(pom).getroot()
    props = root.find("m:properties", _NS)
    if props is None:
        raise StackError(f"{pom} has no <properties>")
    return {child.tag.split("}")[1]: (child.text or "").strip() for child in props}


@dataclass(frozen=True)
class Artifacts:
    """Resolved locations of everything the stack runs from the cache."""

    root: Path
    versions: dict[str, str]

    @property
    def kafka_version(self) -> str:
        return self.versions["kafka.version"]

    @property
    def kafka_libs(self) -> Path:
        return self.root / f"kafka-{self.kafka_version}" / "libs"

    @property
    def registry_version(self) -> str:
        return self.versions["apicurio.version"]

    @property
    def registry_jar(self) -> Path:
        return self.root / f"apicurio-registry-{self.registry_version}" / "quarkus-run.jar"

    @property
    def connect_plugins(self) -> dict[str, Path]:
        """Plugin name -> its folder (one folder per plugin, as `plugin.path` wants); the InfluxDB
        sink's is the output of its own build (:func:`ensure_sink_plugin`)."""
        plugins = self.root / "connect-plugins"
        return {
            "apicurio-converter": plugins
            / f"apicurio-converter-{self.versions['apicurio.converter.version']}",
            "debezium-mariadb": plugins / "debezium-connector-mariadb",
            SINK_PLUGIN: sink_plugin_dir(),
        }

    @property
    def jolokia_agent(self) -> Path:
        """The Jolokia JVM agent: Connect's JMX metrics (the sink's among them) over HTTP."""
        version = self.versions["jolokia.version"]
        return self.root / f"jolokia-{version}" / f"jolokia-agent-jvm-{version}-javaagent.jar"

    @property
    def jmx_exporter_agent(self) -> Path:
        """Prometheus' JMX exporter agent: the broker's and Connect's JMX metrics for Prometheus."""
        version = self.versions["jmx.exporter.version"]
        return self.root / f"jmx-exporter-{version}" / f"jmx_prometheus_javaagent-{version}.jar"

    @property
    def spark_jars(self) -> list[Path]:
        """Jars for the PySpark session's ``spark.jars`` (Kafka, Avro, MariaDB JDBC)."""
        return sorted((self.root / f"spark-jars-{self.versions['spark.version']}").glob("*.jar"))

    def fetched(self) -> list[Path]:
        """What Maven copies into the cache (the sink plugin is built, not fetched)."""
        plugins = [path for name, path in self.connect_plugins.items() if name != SINK_PLUGIN]
        return [self.kafka_libs, self.registry_jar, self.jolokia_agent, self.jmx_exporter_agent, *plugins]

    def missing(self) -> list[Path]:
        wanted = self.fetched()
        if not self.spark_jars:
            wanted.append(self.root / f"spark-jars-{self.versions['spark.version']}")
        return [path for path in wanted if not path.exists()]


def spark_runtime(settings: Settings) -> tuple[Path, list[Path]]:
    """(JAVA_HOME, connector jars) of a Spark session: a JDK 17+ (``SHOPSTREAM_JAVA_HOME`` or found),
    and ``SHOPSTREAM_SPARK_JARS`` or the jars `setup.sh` (`shopstream fetch`) put into the cache for
    the pom's Spark version, looked up, never fetched; fails with the fix when absent."""
    jdk = find_jdk(17, settings.stack.java_home, "SHOPSTREAM_JAVA_HOME")  # Spark 4.1 runs on Java 17+
    if settings.spark.jars:
        jars = [Path(jar.strip()) for jar in settings.spark.jars.split(",") if jar.strip()]
        absent = [str(jar) for jar in jars if not jar.is_file()]
        if absent:
            raise MissingPrerequisite(
                f"Spark jars not found: {', '.join(absent)}", "fix SHOPSTREAM_SPARK_JARS"
            )
        return jdk.home, jars
    jars = Artifacts(StackPaths.of(settings).artifacts, pom_properties()).spark_jars
    if not jars:
        raise MissingPrerequisite(
            "Spark connector jars missing", "run scripts/setup.sh (or `shopstream fetch`)"
        )
    return jdk.home, jars


def _stamp(artifacts_root: Path) -> Path:
    return artifacts_root / ".pom-sha256"


def _pom_digest() -> str:
    digest = hashlib.sha256()
    for pom in sorted(maven_dir().rglob("*.xml")):
        digest.update(pom.read_bytes())
    return digest.hexdigest()


def ensure_artifacts(paths: StackPaths, console: Console | None = None) -> Artifacts:
    """Fetch whatever the cache lacks (Maven shows nothing when all is there); return the layout."""
    artifacts = Artifacts(paths.artifacts, pom_properties())
    stamp = _stamp(paths.artifacts)
    if not artifacts.missing() and stamp.exists() and stamp.read_text() == _pom_digest():
        return artifacts
    # folders Maven copies jars into are emptied first: a version bump must not leave the old jar
    # beside the new one on a class path
    for folder in (artifacts.kafka_libs, artifacts.connect_plugins["apicurio-converter"]):
        shutil.rmtree(folder, ignore_errors=True)
    for folder in artifacts.root.glob("spark-jars-*"):
        shutil.rmtree(folder, ignore_errors=True)
    _run_maven(paths.artifacts, console or Console(stderr=True, soft_wrap=True))
    still_missing = artifacts.missing()
    if still_missing:
        raise StackError(f"Maven finished but these are still missing: {', '.join(map(str, still_missing))}")
    stamp.write_text(_pom_digest())
    return artifacts


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingPrerequisite("mvn not found", "run scripts/setup.sh, or as root: apt-get install maven")
    return mvn


def _run_maven(target: Path, console: Console) -> None:
    mvn = _mvn()
    target.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-B",
        "-s",
        str(maven_dir() / "settings.xml"),
        "-f",
        str(maven_dir() / "pom.xml"),
        f"-Dartifacts.dir={target}",
        "generate-resources",
    ]
    tail: deque[str] = deque(maxlen=40)
    files, size = 0, 0.0
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("Maven: resolving stack artefacts", total=None)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip())
                if match := _DOWNLOADED.search(line):
                    files += 1
                    size += float(match.group(1).replace(",", "")) * _UNITS[match.group(2)]
                    progress.update(task, description=f"Maven: downloaded {files} files, {size / 1e6:.1f} MB")
                elif "--- dependency:" in line:
                    progress.update(task, description=f"Maven: {line.strip()[:80]}")
        if proc.returncode != 0:
            raise StackError(
                "Maven failed to fetch the stack's artefacts. Last lines:\n" + "\n".join(tail),
                "is Maven Central reachable?",
            )
    console.print(f"[green]Artefacts ready[/] in {target} ({files} files downloaded, {size / 1e6:.1f} MB)")


# --- shopstream's InfluxDB sink connector ----------------------------------------------------------
SINK_PLUGIN = "shopstream-influxdb-sink"
_SINK_STAMP = ".shopstream-build-sha256"
_SHOWN = re.compile(r"Tests run:|BUILD|ERROR|FAIL|Building jar")


def sink_module() -> Path:
    """``connectors/influxdb-sink``: the connector's Maven module."""
    return project_file("connectors", "influxdb-sink")


def sink_plugin_dir() -> Path:
    """The plugin folder its build writes (one jar, nothing the worker already has)."""
    return sink_module() / "target" / "plugin" / SINK_PLUGIN


def sink_sources_digest() -> str:
    """Digest of what the plugin is built from: the pom and every file under src/."""
    module = sink_module()
    digest = hashlib.sha256()
    for path in sorted([module / "pom.xml", *(p for p in (module / "src").rglob("*") if p.is_file())]):
        digest.update(str(path.relative_to(module)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_sink_plugin(influxd: Path, console: Console | None = None) -> Path:
    """Build the sink (``mvn -B package``: compile, JUnit tests, some against a private ``influxd``, the
    stack's, plugin folder) unless the plugin folder was built from the current sources; return the folder."""
    console = console or Console(stderr=True, soft_wrap=True)
    plugin, digest = sink_plugin_dir(), sink_sources_digest()
    stamp = plugin.parent / _SINK_STAMP
    if stamp.exists() and stamp.read_text() == digest and any(plugin.glob("*.jar")):
        return plugin
    module = sink_module()
    settings_xml, pom = str(maven_dir() / "settings.xml"), str(module / "pom.xml")
    cmd = [_mvn(), "-B", "-s", settings_xml, "-f", pom, f"-Dinfluxd.binary={influxd}", "clean", "package"]
    console.print(f"Building the InfluxDB sink connector: {' '.join(cmd[1:])}")
    tail: deque[str] = deque(maxlen=60)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            if _SHOWN.search(line):  # Surefire's "Tests run:" lines stay visible in CI's output
                console.print(f"  [mvn] {line.rstrip()}", markup=False, highlight=False)
    if proc.returncode != 0:
        raise StackError(
            "the InfluxDB sink connector did not build. Last lines:\n" + "\n".join(tail),
            f"fix the build or its tests in {module} (mvn -B -s compose/maven/settings.xml "
            f"-f connectors/influxdb-sink/pom.xml -Dinfluxd.binary={influxd} package)",
        )
    if not any(plugin.glob("*.jar")):
        raise StackError(f"the sink build wrote no jar into {plugin}", f"check {module / 'pom.xml'}")
    stamp.write_text(digest)
    console.print(f"[green]InfluxDB sink connector built[/] into {plugin}")
    return plugin
