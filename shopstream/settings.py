"""The one settings object of shopstream, in one section per component.

Every command reads its endpoints, credentials and names from here: environment variables
(prefix ``SHOPSTREAM_``) first, then ``.env``, then the defaults, which point at the local stack on
127.0.0.1. Pointing shopstream at a remote cluster is a matter of setting these, nothing else.

Sections: ``kafka``, ``registry``, ``connect``, ``mysql``, ``influxdb``, ``topics``, ``rules``,
``spark``, ``stack``, ``grafana``, ``monitoring`` (the metrics endpoints), ``prometheus``,
``alertmanager``. Each component gets its section (``settings.kafka``, ...): a client of a service
reads that service's section; a child process is given only the sections it uses, with only its own
identities' secrets (``Slice``), and reads nothing else (no ``.env``).

A setting's name is its variable's, without ``SHOPSTREAM_``: ``kafka_bootstrap_servers`` is
``settings.kafka.bootstrap_servers``, read from ``SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS``. Connector
files name settings that way (``${settings:topic_events}``), ``replace`` takes such names, and
``.env.example`` is generated from the sections (a test keeps it in sync).

The object is frozen and built once, at the ``shopstream`` command's entry; everything below gets it
(or its section) as an argument. A changed copy (``replace``, ``with_topic_prefix``) is validated like
the original.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, get_args
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from shopstream.errors import SettingsError
from shopstream.resources import find_project_dir

# .env and the state dir live in the project directory (cwd for a plain install)
HOME = find_project_dir() or Path.cwd()
PREFIX = "SHOPSTREAM_"
ENV_FILE_VARIABLE = "SHOPSTREAM_ENV_FILE"  # another .env, or empty: read none (a child process)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _empty_or_http_url(value: str) -> str:
    return _http_url(value) if value else value


HttpUrl = Annotated[str, AfterValidator(_http_url)]  # an http(s) URL, without a trailing slash
OptionalHttpUrl = Annotated[str, AfterValidator(_empty_or_http_url)]  # the same, or empty: none


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _variable(name: str, example: str | None = None) -> dict[str, Any]:
    """A setting whose variable does not start with its section's prefix (kept for compatibility);
    ``example``: the value ``.env.example`` shows, commented out (the default depends on the machine)."""
    return {"variable": name, **({"example": example} if example is not None else {})}


KafkaRole = Literal["admin", "producer", "spark", "connect"]
RegistryRole = Literal["admin", "connect", "reader"]
InfluxRole = Literal["admin", "writer", "reader"]
MysqlRole = Literal["app", "cdc"]
KAFKA_ROLES: tuple[KafkaRole, ...] = get_args(KafkaRole)
SETUP_HINT = "scripts/setup.sh writes generated ones into .env"


@dataclass(frozen=True)
class Login:
    """One identity at one service, with the settings that hold it (errors name them)."""

    service: str
    user: str
    password: SecretStr
    user_setting: str
    password_setting: str

    @property
    def secret(self) -> str:
        return self.password.get_secret_value()

    @property
    def settings(self) -> str:
        """The variables to check: ``SHOPSTREAM_X_USER / SHOPSTREAM_X_PASSWORD`` (or the one user info)."""
        if self.user_setting == self.password_setting:
            return self.password_setting
        return f"{self.user_setting} / {self.password_setting}"

    def refused(self, where: str, reason: str) -> str:
        """The one line of an authentication failure."""
        return f"{self.service} at {where} refused user '{self.user}' ({self.settings}): {reason}"

    @property
    def hint(self) -> str:
        return f"fix {self.settings} in .env or the environment ({SETUP_HINT})"


class Section(BaseModel):
    """One component's settings; its fields' variables are ``SHOPSTREAM_<PREFIX><FIELD>`` unless a
    field names its own (``_variable``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    prefix: ClassVar[str]
    title: ClassVar[str]

    @classmethod
    def variable(cls, field: str) -> str:
        """The setting's name (its variable without ``SHOPSTREAM_``), lower case."""
        extra = cls.model_fields[field].json_schema_extra
        override = extra.get("variable") if isinstance(extra, dict) else None
        return str(override) if override else f"{cls.prefix}{field}"

    def _login(self, service: str, user: str, password: str) -> Login:
        cls = type(self)
        return Login(
            service,
            getattr(self, user),
            getattr(self, password),
            _env(cls.variable(user)),
            _env(cls.variable(password)),
        )

    def without_secrets_but(self, *keep: str) -> Self:
        """A copy with every secret emptied except the fields ``keep`` (a child's own identities)."""
        blank = {
            name: SecretStr("")
            for name, info in type(self).model_fields.items()
            if info.annotation is SecretStr and name not in keep
        }
        return self.model_copy(update=blank)


class KafkaSettings(Section):
    prefix = "kafka_"
    title = "Kafka"

    bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers (host:port[,host:port]). The local stack runs one broker per "
        "server given (each a KRaft voter): three for the cluster profile.",
    )
    controller_port: int = Field(
        9093,
        ge=1,
        le=65535,
        description="KRaft controller port of the local broker; the i-th of several local brokers (from 0) "
        "listens at this port + i.",
    )
    replication_factor: int = Field(
        1,
        ge=1,
        description="Replication factor of the topics shopstream creates, of Connect's topics and of the "
        "local brokers' internal topics (the cluster profile: 3).",
    )
    min_insync_replicas: int = Field(
        1,
        ge=1,
        description="min.insync.replicas of those topics: an acks=all write needs this many replicas "
        "(the cluster profile: 2, so that one broker may die without refusing writes or losing any).",
    )
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "SASL_PLAINTEXT",
        description="How every Kafka client connects: SASL_SSL for a remote cluster, SASL_PLAINTEXT for "
        "the local broker on loopback; PLAINTEXT runs the local stack without Kafka security.",
    )
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of every Kafka client (the local broker: SCRAM-SHA-512)."
    )
    ssl_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates (SASL_SSL); empty = the "
        "system's trust store.",
    )
    admin_user: str = Field(
        "admin", description="Kafka super user: stack bootstrap (topics, users, ACLs), monitor, clean-up."
    )
    admin_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka admin user.")
    producer_user: str = Field("producer", description="Kafka user of the producer (writes the events).")
    producer_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka producer user.")
    spark_user: str = Field(
        "spark", description="Kafka user of the Spark job (reads events, writes enriched, KPIs, DLQ)."
    )
    spark_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka Spark user.")
    connect_user: str = Field(
        "connect", description="Kafka user of the Connect worker and its connectors' clients."
    )
    connect_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka Connect user.")
    heap: str = Field("768m", description="Max heap (-Xmx) of the local Kafka broker.")

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_have_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {server!r}")
        return value

    @field_validator("ssl_ca_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("ssl_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    @property
    def sasl(self) -> bool:
        """Whether Kafka clients authenticate (SASL_PLAINTEXT, SASL_SSL)."""
        return self.security_protocol.startswith("SASL")

    @model_validator(mode="after")
    def _replicas_fit(self) -> Self:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"kafka_min_insync_replicas ({self.min_insync_replicas}) is above kafka_replication_factor "
                f"({self.replication_factor}): no acks=all write could ever succeed"
            )
        return self

    @property
    def servers(self) -> list[tuple[str, int]]:
        """The bootstrap servers as (host, port), in order."""
        pairs = [server.strip().rpartition(":") for server in self.bootstrap_servers.split(",")]
        return [(host, int(port)) for host, _, port in pairs]

    @property
    def port(self) -> int:
        """The first bootstrap server's port (the local broker's)."""
        return self.servers[0][1]

    def server(self, index: int) -> KafkaSettings:
        """This section with only the ``index``-th bootstrap server (one broker of several)."""
        host, port = self.servers[index]
        return self.model_copy(update={"bootstrap_servers": f"{host}:{port}"})

    def login(self, role: KafkaRole) -> Login:
        return self._login("Kafka", f"{role}_user", f"{role}_password")

    def only(self, role: KafkaRole) -> KafkaSettings:
        """This section with only ``role``'s secret."""
        return self.without_secrets_but(f"{role}_password")


class RegistrySettings(Section):
    prefix = "schema_registry_"
    title = "Schema registry"

    url: HttpUrl = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7",
        description="Confluent-compatible Schema Registry API base (Apicurio's ccompat/v7 locally).",
    )
    admin_user: str = Field(
        "admin",
        description="Registry basic auth user with the admin role: schemas register/evolve, clean-up.",
    )
    admin_password: SecretStr = Field(
        SecretStr(""),
        description="Its password; empty: the local registry runs open (no authentication). The connect and "
        "reader identities fall back to the admin's when their password is empty.",
    )
    connect_user: str = Field(
        "connect",
        description="Registry user of Connect's converters (developer role: the CDC source registers).",
    )
    connect_password: SecretStr = Field(SecretStr(""), description="Its password.")
    reader_user: str = Field(
        "reader", description="Registry user of the readers (read-only role): producer, Spark job, monitor."
    )
    reader_password: SecretStr = Field(SecretStr(""), description="Its password.")
    heap: str = Field(
        "512m",
        description="Max heap (-Xmx) of the local Apicurio Registry.",
        json_schema_extra=_variable("registry_heap"),
    )
    java_home: Path | None = Field(
        None,
        description="JDK (21+) for the local Apicurio Registry 3.3; default: newest JDK under /usr/lib/jvm.",
        json_schema_extra=_variable("registry_java_home", "/usr/lib/jvm/temurin-25-jdk-amd64"),
    )

    @property
    def port(self) -> int:
        return _port_of(self.url)

    @property
    def base_url(self) -> str:
        """Scheme://host:port of the registry, without the API path."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def login(self, role: RegistryRole) -> Login | None:
        """The registry identity of a role: its own, or the admin's when its password is empty (a
        remote registry with one API key sets only the admin's); None when neither is set (an open
        registry). A child process gets only its own role's identity (``only``), so its own comes
        first. Basic auth's user info is USER:PASSWORD of it."""
        chosen = role
        if not getattr(self, f"{role}_password").get_secret_value():
            chosen = "admin"
        if not getattr(self, f"{chosen}_password").get_secret_value():
            return None
        return self._login("schema registry", f"{chosen}_user", f"{chosen}_password")

    def only(self, role: RegistryRole) -> RegistrySettings:
        """This section with only the identity ``role`` resolves to (the admin's as its own when the
        role falls back to it)."""
        login = self.login(role)
        kept = self.without_secrets_but()
        if login is None:
            return kept
        return kept.model_copy(update={f"{role}_user": login.user, f"{role}_password": login.password})


class ConnectSettings(Section):
    prefix = "connect_"
    title = "Kafka Connect"

    url: str = Field(
        "http://127.0.0.1:8083",
        description="Kafka Connect REST URL, or several comma-separated (workers of one group): a client "
        "tries the next when one does not answer. The local stack runs one worker per URL.",
    )
    user: str = Field("admin", description="Connect REST (and its Jolokia agent's) basic auth user.")
    password: SecretStr = Field(
        SecretStr(""),
        description="Connect REST (and Jolokia) basic auth password; empty = no authentication.",
    )
    jolokia_url: OptionalHttpUrl = Field(
        "http://127.0.0.1:8778/jolokia",
        description="Jolokia endpoint of the Connect worker's JVM: its JMX metrics, the InfluxDB sink's "
        "among them (empty = none; the monitor then shows no sink metrics). The i-th of several local "
        "workers (from 0) serves it at this port + i.",
    )
    heap: str = Field("1g", description="Max heap (-Xmx) of the local Kafka Connect worker.")
    rebalance_delay_ms: int = Field(
        300_000,
        ge=0,
        description="scheduled.rebalance.max.delay.ms of the local workers: how long the group waits for a "
        "worker that left before its connectors and tasks move to the others (Connect's default, 5 min; "
        'the cluster profile: 10 s, see the README\'s "Running on clusters").',
    )

    @field_validator("url")
    @classmethod
    def _http_urls(cls, value: str) -> str:
        return ",".join(_http_url(url.strip()) for url in value.split(","))

    @property
    def urls(self) -> list[str]:
        """Every worker's REST URL, in order."""
        return self.url.split(",")

    @property
    def port(self) -> int:
        return _port_of(self.urls[0])

    def worker(self, index: int) -> ConnectSettings:
        """This section with only the ``index``-th worker's URL, and its Jolokia endpoint."""
        jolokia = self.jolokia_url
        if jolokia:
            parts = urlsplit(jolokia)
            jolokia = parts._replace(netloc=f"{parts.hostname}:{_port_of(jolokia) + index}").geturl()
        return self.model_copy(update={"url": self.urls[index], "jolokia_url": jolokia})

    @property
    def jolokia_port(self) -> int | None:
        return _port_of(self.jolokia_url) if self.jolokia_url else None

    def login(self) -> Login | None:
        """Connect REST's basic auth identity (None: no authentication)."""
        if not self.password.get_secret_value():
            return None
        return self._login("Kafka Connect", "user", "password")


class MysqlSettings(Section):
    prefix = "mysql_"
    title = "MariaDB / MySQL"

    host: str = Field("127.0.0.1", description="MariaDB/MySQL host.")
    port: int = Field(3306, ge=1, le=65535, description="MariaDB/MySQL port.")
    database: str = Field("shopstream", description="Database holding the demographics table.")
    user: str = Field("shopstream", description="Application user (read/write on the database).")
    password: SecretStr = Field(SecretStr(""), description="Application user's password.")
    cdc_user: str = Field(
        "shopstream_cdc", description="Least-privilege replication user for the CDC source connector."
    )
    cdc_password: SecretStr = Field(SecretStr(""), description="Replication user's password.")

    def only(self, role: MysqlRole) -> MysqlSettings:
        return self.without_secrets_but("password" if role == "app" else "cdc_password")


class InfluxSettings(Section):
    prefix = "influxdb_"
    title = "InfluxDB 1.x"

    url: HttpUrl = Field("http://127.0.0.1:8086", description="InfluxDB 1.x HTTP API URL.")
    database: str = Field("shopstream", description="InfluxDB database for KPI points.")
    admin_user: str = Field(
        "admin", description="InfluxDB admin: only setup (users, grants, databases, retention policies)."
    )
    admin_password: SecretStr = Field(SecretStr(""), description="InfluxDB admin's password.")
    writer_user: str = Field(
        "writer", description="InfluxDB user with WRITE on the database: the sink connectors, telemetry."
    )
    writer_password: SecretStr = Field(SecretStr(""), description="InfluxDB writer's password.")
    reader_user: str = Field(
        "reader", description="InfluxDB user with READ on the database: Grafana, the live view, KPIs."
    )
    reader_password: SecretStr = Field(SecretStr(""), description="InfluxDB reader's password.")
    gzip: bool = Field(
        False,
        description="Whether the InfluxDB sink gzips its writes: worth it across a network; on loopback "
        "it only costs CPU on both sides.",
    )
    events_rp: str = Field(
        "events_7d", description="Retention policy of the per-event measurement (created by the sink)."
    )
    events_rp_duration: str = Field(
        "7d", description="How long per-event points are kept (InfluxQL duration, at least 1h)."
    )
    index: Literal["inmem", "tsi1"] = Field(
        "inmem",
        description="index-version of the local stack's InfluxDB for new shards: inmem (every series in "
        "RAM; InfluxDB's default, measured the cheaper one here, README) or tsi1 (on disk). A shard keeps "
        "the index it was written with.",
    )
    max_series_per_database: int = Field(
        1_000_000,
        ge=0,
        description="max-series-per-database of the local stack's InfluxDB (0 = none; only the inmem index "
        "enforces it): new series past it are refused (400 partial write, to the sink's DLQ). A tag mistake "
        "(an id as a tag: a series per event) is stopped before the in-memory index takes the machine's RAM.",
    )

    @property
    def port(self) -> int:
        return _port_of(self.url)

    def login(self, role: InfluxRole) -> Login:
        return self._login("InfluxDB", f"{role}_user", f"{role}_password")

    def only(self, *roles: InfluxRole) -> InfluxSettings:
        """This section with only the secrets of ``roles`` (the telemetry sampler: writer and reader)."""
        return self.without_secrets_but(*(f"{role}_password" for role in roles))


class TopicSettings(Section):
    prefix = "topic_"
    title = "Topics"

    events: str = Field("shop.events", description="Raw click/purchase events (Avro).")
    enriched: str = Field("shop.events.enriched", description="Events joined with demographics.")
    kpi_campaign: str = Field("shop.kpi.campaign", description="Windowed KPIs per campaign.")
    kpi_segment: str = Field("shop.kpi.segment", description="Windowed KPIs per demographic segment.")
    demographics: str = Field("shop.demographics", description="Demographics from the CDC source.")
    events_dlq: str = Field("shop.events.dlq", description="Dead letters of event decoding.")
    kpi_dlq: str = Field("shop.kpi.dlq", description="Dead letters of the InfluxDB sink's KPI connectors.")
    enriched_dlq: str = Field(
        "shop.events.enriched.dlq", description="Dead letters of the InfluxDB sink's event connector."
    )
    partitions: int = Field(3, ge=1, description="Partitions of the topics shopstream creates.")

    NAMES: ClassVar[tuple[str, ...]] = (
        "events", "enriched", "kpi_campaign", "kpi_segment",
        "demographics", "events_dlq", "kpi_dlq", "enriched_dlq",
    )  # fmt: skip

    @property
    def all(self) -> list[str]:
        """Every topic's name, in declaration order."""
        return [str(getattr(self, name)) for name in self.NAMES]

    def with_prefix(self, prefix: str) -> TopicSettings:
        return self.model_copy(update={name: f"{prefix}.{getattr(self, name)}" for name in self.NAMES})


class RulesSettings(Section):
    prefix = ""
    title = "Business rules of events (shopstream/rules.py)"

    max_event_time_skew_s: int = Field(
        60,
        ge=0,
        description="How far (seconds) an event's time may be ahead of the clock that judges it (the "
        "producer's at send time; in the Spark job the record's Kafka timestamp, or the wall clock if "
        "earlier); later events are refused or dead-lettered. Keep it at most the KPI watermark: an "
        "accepted event from the future moves the watermark forward by as much.",
    )
    campaign_id_pattern: str = Field(
        "cmp-[0-9]{3}",
        min_length=1,
        description="The known campaigns: a regular expression a campaign_id must match in full, read "
        "alike by Python's re and Java's regex (classes, groups, alternation, quantifiers; no \\d or .).",
    )

    @field_validator("campaign_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value


StateStore = Literal["rocksdb", "hdfs"]


class SparkSettings(Section):
    prefix = "spark_"
    title = "Spark job"

    master: str = Field("local[*]", description="Spark master URL (local[N] or a cluster's).")
    ui_port: int = Field(4040, ge=1, le=65535, description="Spark UI port (bound to 127.0.0.1).")
    enrich_mode: Literal["realtime", "microbatch"] = Field(
        "realtime",
        description="Enrichment query engine: Spark's Real-time Mode (long-running tasks, ms latency; "
        "one task slot per event-topic partition) or micro-batches.",
    )
    trigger_s: float = Field(
        0.0, ge=0, description="Micro-batch interval of the enrichment query in microbatch mode (0 = asap)."
    )
    kpi_trigger_s: float = Field(
        5.0, ge=0, description="Micro-batch interval of the KPI queries (stateful; fewer, larger batches)."
    )
    kpi_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="Nice value of the KPI application (the enrichment runs at 0): higher gives records in "
        "flight the CPU first, lower keeps the KPIs fresher when the machine is saturated.",
    )
    kpi_max_records_per_batch: int = Field(
        250_000,
        ge=1,
        description="Most enriched records one KPI micro-batch reads (bounds a backlog's batches).",
    )
    window: str = Field("1 minute", description="Tumbling event-time window of the KPIs.")
    watermark: str = Field(
        "2 minutes",
        description="How late an event may arrive and still count; also how long an event id is remembered "
        "to drop its duplicates (until the watermark passes its event time plus this delay).",
    )
    kpi_dedup: bool = Field(
        True,
        description="Count each event_id once in the KPIs (a duplicate arriving within the watermark counts "
        "nowhere); false only to measure what the de-duplication costs.",
    )
    state_store: StateStore = Field(
        "rocksdb",
        description="State store of the KPI query: RocksDB with changelog checkpointing, or Spark's "
        "in-memory HDFS-backed store (a checkpoint keeps the store it was started with).",
    )
    demographics_refresh_s: float = Field(
        60.0,
        gt=0,
        description="How often the job re-reads demographics from MariaDB (in realtime mode also the "
        "query's checkpoint interval, at least 5 s).",
    )
    shuffle_partitions: int = Field(2, ge=1, description="spark.sql.shuffle.partitions of the job.")
    workers: int = Field(
        2,
        ge=1,
        description="Workers of the local Spark standalone cluster, which the local stack runs when the "
        "master is spark://127.0.0.1:PORT (the cluster profile).",
    )
    worker_slots: int = Field(
        5,
        ge=1,
        description="Task slots (SPARK_WORKER_CORES: threads, not cores) of each local standalone worker: "
        "one worker alone holds both applications (Real-time Mode's one task per partition and the KPI "
        "queries'), so the job goes on when the other dies.",
    )
    worker_memory: str = Field(
        "4g",
        description="Memory each local standalone worker gives its executors (768m each: one worker alone "
        "holds both applications' five).",
    )
    auth_secret: SecretStr = Field(
        SecretStr(""),
        description="Shared secret (spark.authenticate) of the local Spark standalone master, its workers "
        "and the applications that run on it: no other local user submits or joins. Empty: none.",
    )
    cluster_ui_port: int = Field(
        8180,
        ge=1,
        le=65535,
        description="Web UI of the local standalone master (127.0.0.1); the i-th worker's (from 0) at this "
        "port + 1 + i.",
    )

    @property
    def standalone(self) -> tuple[str, int] | None:
        """(host, port) of a Spark standalone master (spark://HOST:PORT); None for local[N] and others."""
        found = re.fullmatch(r"spark://([^:/,]+):(\d+)", self.master.strip())
        return (found.group(1), int(found.group(2))) if found else None

    jars: str = Field(
        "",
        description="Comma-separated jars the Spark job loads (Kafka and Avro connectors, MariaDB JDBC); "
        "empty: those scripts/setup.sh fetched into the cache.",
    )


class StackSettings(Section):
    prefix = "stack_"
    title = "Local stack"

    state_dir: Path = Field(
        HOME / ".state",
        description="Data, logs, pid files and configs of the local stack.",
        json_schema_extra=_variable("state_dir", ".state"),
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "shopstream",
        description="Downloaded artefacts (Maven jars and archives); shared between checkouts.",
        json_schema_extra=_variable("cache_dir", "~/.cache/shopstream"),
    )
    java_home: Path | None = Field(
        None,
        description="JDK (17+) for Kafka, Connect and Spark; default: JAVA_HOME or java on PATH.",
        json_schema_extra=_variable("java_home", "/usr/lib/jvm/java-17-openjdk-amd64"),
    )
    timeout_s: float = Field(
        120.0, gt=0, description="How long `stack up` waits for one service to become healthy."
    )
    profile: Literal["single", "cluster"] = Field(
        "single",
        description="Which local stack: single (one broker, one Connect worker, Spark in local mode) or "
        "cluster (3 brokers, 2 Connect workers, a Spark standalone master and workers; see the README's "
        '"Running on clusters"). The profile sets other settings (CLUSTER_PROFILE in '
        "shopstream/settings.py) over .env's; an environment variable wins over both.",
    )

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class GrafanaSettings(Section):
    prefix = "grafana_"
    title = "Grafana (Compose)"

    admin_password: SecretStr = Field(
        SecretStr(""), description="Grafana's admin password under Compose (required there: no default)."
    )


class MonitoringSettings(Section):
    """Issue 21's metrics endpoints (monitoring/README.md): whether monitoring runs at all, and where
    each component's Prometheus endpoint listens. No secrets: the producer's and the Spark job's
    slices carry it."""

    prefix = ""
    title = "Monitoring: metrics endpoints (monitoring/README.md)"

    enabled: bool = Field(
        True,
        description="Run the monitoring: Prometheus and Alertmanager as services of the local stack, the JMX "
        "exporter agents on Kafka and Connect, Spark's Prometheus servlet with streaming metrics, the "
        "producer's and the telemetry sampler's metrics endpoints. false: none of them (measures what "
        "monitoring costs).",
        json_schema_extra=_variable("monitoring"),
    )
    kafka_metrics_port: int = Field(
        9404, ge=1, le=65535, description="The broker's JMX exporter agent (Prometheus format, 127.0.0.1)."
    )
    connect_metrics_port: int = Field(
        9405, ge=1, le=65535, description="The Connect worker's JMX exporter agent (127.0.0.1)."
    )
    stack_metrics_port: int = Field(
        9406,
        ge=1,
        le=65535,
        description="The stack exporter: every service's health probe (as `stack status`) and the "
        "supervisor's view of every program, for Prometheus (127.0.0.1).",
    )
    producer_metrics_port: int = Field(
        9464,
        ge=1,
        le=65535,
        description="The producer's metrics endpoint (sent, refused, acked, ack latency; 127.0.0.1); a "
        "second producer takes a free port and registers it with Prometheus.",
    )
    telemetry_metrics_port: int = Field(
        9465,
        ge=1,
        le=65535,
        description="The telemetry sampler's metrics endpoint (stage records and lag, Spark query "
        "progress from the checkpoints, KPI freshness; 127.0.0.1); a second sampler takes a free port.",
    )
    metrics_bind_address: str = Field(
        "127.0.0.1",
        description="Where the producer's and the telemetry sampler's metrics endpoints listen: loopback; "
        "0.0.0.0 only inside a private network (Compose), where Prometheus runs in another container.",
    )


class PrometheusSettings(Section):
    prefix = "prometheus_"
    title = "Prometheus (monitoring/README.md)"

    url: HttpUrl = Field(
        "http://127.0.0.1:9090",
        description="Prometheus' HTTP API (the local stack's, bound to 127.0.0.1, or a remote one): where "
        "the stack's alert rules are evaluated and the monitoring tests run their queries.",
    )
    scrape_interval_s: float = Field(
        15.0, gt=0, description="How often the local Prometheus scrapes every target, seconds."
    )
    evaluation_interval_s: float = Field(
        15.0, gt=0, description="How often the local Prometheus evaluates the alert rules, seconds."
    )
    retention: str = Field(
        "7d", description="How long the local Prometheus keeps samples (its --storage.tsdb.retention.time)."
    )

    @property
    def port(self) -> int:
        return _port_of(self.url)


class AlertmanagerSettings(Section):
    prefix = "alertmanager_"
    title = "Alertmanager (monitoring/README.md)"

    url: HttpUrl = Field(
        "http://127.0.0.1:9095",
        description="Alertmanager's HTTP API (the local stack's, bound to 127.0.0.1; not 9093, Kafka's "
        "controller port): `shopstream alerts` lists its firing alerts.",
    )
    webhook_url: OptionalHttpUrl = Field(
        "",
        description="Where the local Alertmanager sends notifications (a webhook receiver: an incident "
        "tool, a chat bridge); empty: alerts are listed by `shopstream alerts` and Alertmanager's UI only.",
    )
    config_file: Path | None = Field(
        None,
        description="An Alertmanager configuration of your own for the local Alertmanager (receivers such "
        "as Slack, e-mail, PagerDuty; routes); empty: the stack's own, one receiver with the webhook above.",
    )

    @field_validator("config_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("config_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value.expanduser().resolve() if value is not None else None

    @property
    def port(self) -> int:
        return _port_of(self.url)


SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings,
    "registry": RegistrySettings,
    "connect": ConnectSettings,
    "mysql": MysqlSettings,
    "influxdb": InfluxSettings,
    "topics": TopicSettings,
    "rules": RulesSettings,
    "spark": SparkSettings,
    "stack": StackSettings,
    "grafana": GrafanaSettings,
    "monitoring": MonitoringSettings,
    "prometheus": PrometheusSettings,
    "alertmanager": AlertmanagerSettings,
}


def variables() -> dict[str, tuple[str, str]]:
    """Every setting's name (its variable without ``SHOPSTREAM_``, lower case) -> (section, field)."""
    return {cls.variable(f): (section, f) for section, cls in SECTIONS.items() for f in cls.model_fields}


def setting_fields() -> dict[str, FieldInfo]:
    """Every setting's name -> its field (type, default, description)."""
    return {name: SECTIONS[section].model_fields[field] for name, (section, field) in variables().items()}


DERIVED = {"registry_base_url": ("registry", "base_url")}  # names connector files may use too


def _env(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


class Settings(BaseModel):
    """shopstream configuration: one frozen section per component."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    connect: ConnectSettings = ConnectSettings()
    mysql: MysqlSettings = MysqlSettings()
    influxdb: InfluxSettings = InfluxSettings()
    topics: TopicSettings = TopicSettings()
    rules: RulesSettings = RulesSettings()
    spark: SparkSettings = SparkSettings()
    stack: StackSettings = StackSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    prometheus: PrometheusSettings = PrometheusSettings()
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        """``Settings()`` reads the environment (then .env, then the defaults), like ``load_settings``."""
        if data == {}:
            built = load_settings()
            return {name: getattr(built, name) for name in SECTIONS}
        return data

    # --- by name (the variables' names) --------------------------------------------------------
    def value_of(self, name: str) -> Any:
        """A setting by its name (``topic_events``), or a derived value connector files may use."""
        section, field = DERIVED.get(name) or variables().get(name) or (None, None)
        if section is None or field is None:
            raise KeyError(name)
        return getattr(getattr(self, section), field)

    def replace(self, **changes: Any) -> Settings:
        """A copy with the settings named (``influxdb_database=...``), validated like settings read
        from the environment."""
        return _build(self.values() | {_env(name): value for name, value in changes.items()})

    def values(self) -> dict[str, Any]:
        """Every setting as ``{SHOPSTREAM_NAME: value}`` (secrets as SecretStr)."""
        return {
            _env(cls.variable(field)): getattr(getattr(self, section), field)
            for section, cls in SECTIONS.items()
            for field in cls.model_fields
        }

    def with_topic_prefix(self, prefix: str) -> Settings:
        """The same settings with every topic renamed ``<prefix>.<topic>`` (tests, benchmarks)."""
        return self.model_copy(update={"topics": self.topics.with_prefix(prefix)})

    def topic_env(self) -> dict[str, str]:
        """The topic names as SHOPSTREAM_* variables, for child processes."""
        return {
            _env(TopicSettings.variable(name)): getattr(self.topics, name) for name in TopicSettings.NAMES
        }

    # --- a child process's slice -----------------------------------------------------------------
    def sliced(self, piece: Slice) -> Settings:
        """Only the sections a child uses, each with only its identities' secrets (the others: defaults)."""
        kept: dict[str, Any] = {name: getattr(self, name) for name in piece.sections}
        for name, roles in piece.roles.items():
            kept[name] = getattr(self, name).only(*((roles,) if isinstance(roles, str) else roles))
        return Settings(**kept)

    def env_for(self, piece: Slice) -> dict[str, str]:
        """The environment of a child given ``piece``: its sections as SHOPSTREAM_* variables, and an
        empty ``SHOPSTREAM_ENV_FILE``: the child reads no .env, so it holds nothing more than given."""
        sliced = self.sliced(piece)
        env = {ENV_FILE_VARIABLE: ""}
        for section in piece.sections:
            cls = SECTIONS[section]
            for field in cls.model_fields:
                value = getattr(getattr(sliced, section), field)
                if value is not None:
                    text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                    env[_env(cls.variable(field))] = text
        return env


@dataclass(frozen=True)
class Slice:
    """What a child process is given of the settings: whole sections, and for the sections with
    identities the one role it acts as (``kafka: "spark"``): that role's secret only; a section whose
    ``only`` takes several (InfluxDB's) may name a tuple of roles (``influxdb: ("writer", "reader")``)."""

    sections: tuple[str, ...]
    roles: Mapping[str, str | tuple[str, ...]]

    def __post_init__(self) -> None:
        unknown = set(self.sections) - set(SECTIONS)
        if unknown or not set(self.roles) <= set(self.sections):
            raise ValueError(
                f"a slice names unknown or ungiven sections: {sorted(unknown | set(self.roles))}"
            )


ALL = Slice(tuple(SECTIONS), {})  # everything (a program of the project's own tests, say)


def secret_variables() -> list[str]:
    """The settings (by name) that hold secrets (passwords, USER:PASSWORD user infos)."""
    return [
        cls.variable(f)
        for cls in SECTIONS.values()
        for f, info in cls.model_fields.items()
        if info.annotation is SecretStr
    ]


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    read = {k: v for k, v in dotenv_values(path).items() if v is not None}
    unknown = sorted(
        k for k in read if k.startswith(PREFIX) and k.removeprefix(PREFIX).lower() not in variables()
    )
    if unknown:
        raise SettingsError(
            f"{path}: unknown settings {', '.join(unknown)}", "see .env.example for every setting"
        )
    return {k: v for k, v in read.items() if k.startswith(PREFIX)}


def _environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """The variables that apply: the environment's, then the profile's (``SHOPSTREAM_STACK_PROFILE``,
    from either), then the .env file's (``SHOPSTREAM_ENV_FILE`` names another file; empty: none): a
    .env written from .env.example names every default, which must not undo a profile. Other
    SHOPSTREAM_* variables of the environment are not settings (``SHOPSTREAM_PROJECT_DIR``, the tests'
    own): left alone; in .env they are refused."""
    env_file = environ.get(ENV_FILE_VARIABLE)
    from_file = {} if env_file == "" else _read_env_file(Path(env_file) if env_file else HOME / ".env")
    names = variables()
    given = {
        k: v for k, v in environ.items() if k.removeprefix(PREFIX).lower() in names and k.startswith(PREFIX)
    }
    variable = _env(StackSettings.variable("profile"))
    profile = given.get(variable, from_file.get(variable, "single"))
    if profile not in PROFILES:
        raise SettingsError(
            f"invalid setting {variable}: {profile!r} is no profile", f"use one of {', '.join(PROFILES)}"
        )
    return from_file | PROFILES[profile] | given


def _build(values: Mapping[str, Any]) -> Settings:
    """Settings from ``{SHOPSTREAM_NAME: value}`` (unknown names are refused), each section validated;
    every invalid or unknown variable named in one error."""
    names = variables()
    grouped: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    problems = []
    for variable, value in values.items():
        found = names.get(variable.removeprefix(PREFIX).lower())
        if found is None:
            problems.append(f"{variable}: no such setting")
            continue
        grouped[found[0]][found[1]] = value
    sections: dict[str, Section] = {}
    for section, cls in SECTIONS.items():
        try:
            sections[section] = cls.model_validate(grouped[section])
        except ValidationError as exc:
            problems += [
                f"{_env(cls.variable(str(error['loc'][0])))}: {error['msg']}"
                if error["loc"]
                else error["msg"]
                for error in exc.errors()
            ]
    if problems:
        raise SettingsError(
            "invalid setting " + "; ".join(problems),
            "fix the variable (environment or .env; see .env.example)",
        )
    return Settings(**sections)


# The cluster profile (SHOPSTREAM_STACK_PROFILE=cluster): the settings it changes. Everything else about
# a cluster follows from these: the stack runs one broker per bootstrap server, one Connect worker per
# URL, a standalone master and workers for a spark:// master on 127.0.0.1. Every port is the single
# node's + 10000 (the brokers, workers and Spark daemons numbered on from there) and the state has a
# directory of its own: both stacks can run side by side.
CLUSTER_PROFILE: dict[str, str] = {
    "SHOPSTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096",
    "SHOPSTREAM_KAFKA_CONTROLLER_PORT": "19193",
    "SHOPSTREAM_KAFKA_REPLICATION_FACTOR": "3",
    "SHOPSTREAM_KAFKA_MIN_INSYNC_REPLICAS": "2",
    "SHOPSTREAM_SCHEMA_REGISTRY_URL": "http://127.0.0.1:18081/apis/ccompat/v7",
    "SHOPSTREAM_CONNECT_URL": "http://127.0.0.1:18083,http://127.0.0.1:18084",
    "SHOPSTREAM_CONNECT_JOLOKIA_URL": "http://127.0.0.1:18778/jolokia",
    "SHOPSTREAM_CONNECT_REBALANCE_DELAY_MS": "10000",
    "SHOPSTREAM_MYSQL_PORT": "13306",
    "SHOPSTREAM_INFLUXDB_URL": "http://127.0.0.1:18086",
    "SHOPSTREAM_SPARK_MASTER": "spark://127.0.0.1:17077",
    "SHOPSTREAM_SPARK_UI_PORT": "14040",
    "SHOPSTREAM_SPARK_CLUSTER_UI_PORT": "18180",
    "SHOPSTREAM_KAFKA_METRICS_PORT": "19410",
    "SHOPSTREAM_CONNECT_METRICS_PORT": "19420",
    "SHOPSTREAM_STACK_METRICS_PORT": "19406",
    "SHOPSTREAM_PRODUCER_METRICS_PORT": "19464",
    "SHOPSTREAM_TELEMETRY_METRICS_PORT": "19465",
    "SHOPSTREAM_PROMETHEUS_URL": "http://127.0.0.1:19090",
    "SHOPSTREAM_ALERTMANAGER_URL": "http://127.0.0.1:19095",
    "SHOPSTREAM_STATE_DIR": str(HOME / ".state-cluster"),
}
PROFILES: dict[str, dict[str, str]] = {"single": {}, "cluster": CLUSTER_PROFILE}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings now (environment, then the profile's, then .env, then the defaults); a bad
    value raises ``SettingsError`` naming the variable. Called once, by the ``shopstream`` command's
    entry."""
    return _build(_environment(os.environ if environ is None else environ))


def describe() -> Iterator[tuple[str, str, str, str]]:
    """(section title, line, description) of every setting, in order: what ``.env.example`` is
    generated from; the line is ``SHOPSTREAM_X=default``, commented out with an example value where
    the default depends on the machine."""
    for cls in SECTIONS.values():
        for field, info in cls.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            default = info.get_default(call_default_factory=True)
            if "example" in extra:
                line = f"# {_env(cls.variable(field))}={extra['example']}"
            elif isinstance(default, SecretStr) or default is None:
                line = f"{_env(cls.variable(field))}="
            else:
                text = str(default).lower() if isinstance(default, bool) else str(default)
                line = f"{_env(cls.variable(field))}={text}"
            yield cls.title, _env(cls.variable(field)), line, info.description or ""


def env_example() -> str:
    """``.env.example``: every setting with its description and default, by section."""
    lines = [
        "# shopstream settings. Do not copy this file: scripts/setup.sh writes .env from it (mode 600,",
        "# never committed), with a random value for every secret left empty here; change what you need",
        "# there. Every setting can also be given as an environment variable, which wins over .env.",
        "# Defaults point at the local stack on 127.0.0.1. No secret has a usable default: every password",
        "# below is empty. Generated from shopstream/settings.py (`python -m shopstream.settings`).",
    ]
    title = None
    for section, _variable_name, line, description in describe():
        if section != title:
            lines += ["", f"# --- {section} ---"]
            title = section
        lines += [f"# {text}" for text in textwrap.wrap(description, 98)]
        lines.append(line)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(env_example(), end="")
