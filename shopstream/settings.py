"""The one settings object of shopstream.

Every command reads its endpoints, credentials and names from here: environment variables
(prefix ``SHOPSTREAM_``) first, then ``.env``, then the defaults, which point at the local stack
on 127.0.0.1. Pointing shopstream at a remote cluster is a matter of setting these, nothing else.

The object is frozen and built once, at the ``shopstream`` command's entry; everything below gets it
as an argument. A changed copy (``replace``, ``with_topic_prefix``) is validated like the original.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopstream.errors import SettingsError
from shopstream.resources import find_project_dir

# .env and the state dir live in the project directory (cwd for a plain install)
HOME = find_project_dir() or Path.cwd()


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


KafkaRole = Literal["admin", "producer", "spark", "connect"]
RegistryRole = Literal["admin", "connect", "reader"]
InfluxRole = Literal["admin", "writer", "reader"]
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


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


class Settings(BaseSettings):
    """shopstream configuration; each field's env name is ``SHOPSTREAM_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="SHOPSTREAM_",
        env_file=HOME / ".env",
        env_file_encoding="utf-8",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    # --- Kafka -------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers (host:port[,host:port])."
    )
    kafka_controller_port: int = Field(
        9093, ge=1, le=65535, description="KRaft controller port of the local broker."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "SASL_PLAINTEXT",
        description="How every Kafka client connects: SASL_SSL for a remote cluster, SASL_PLAINTEXT for "
        "the local broker on loopback; PLAINTEXT runs the local stack without Kafka security.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of every Kafka client (the local broker: SCRAM-SHA-512)."
    )
    kafka_ssl_ca_file: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates (SASL_SSL); empty = the "
        "system's trust store.",
    )
    kafka_admin_user: str = Field(
        "admin", description="Kafka super user: stack bootstrap (topics, users, ACLs), monitor, clean-up."
    )
    kafka_admin_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka admin user.")
    kafka_producer_user: str = Field(
        "producer", description="Kafka user of the producer (writes the events)."
    )
    kafka_producer_password: SecretStr = Field(
        SecretStr(""), description="Password of the Kafka producer user."
    )
    kafka_spark_user: str = Field(
        "spark", description="Kafka user of the Spark job (reads events, writes enriched, KPIs, DLQ)."
    )
    kafka_spark_password: SecretStr = Field(SecretStr(""), description="Password of the Kafka Spark user.")
    kafka_connect_user: str = Field(
        "connect", description="Kafka user of the Connect worker and its connectors' clients."
    )
    kafka_connect_password: SecretStr = Field(
        SecretStr(""), description="Password of the Kafka Connect user."
    )
    # --- Schema registry -----------------------------------------------------------------------
    schema_registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7",
        description="Confluent-compatible Schema Registry API base (Apicurio's ccompat/v7 locally).",
    )
    schema_registry_admin_user: str = Field(
        "admin",
        description="Registry basic auth user with the admin role: schemas register/evolve, clean-up.",
    )
    schema_registry_admin_password: SecretStr = Field(
        SecretStr(""),
        description="Its password; empty: the local registry runs open (no authentication). The connect and "
        "reader identities fall back to the admin's when their password is empty.",
    )
    schema_registry_connect_user: str = Field(
        "connect",
        description="Registry user of Connect's converters (developer role: the CDC source registers).",
    )
    schema_registry_connect_password: SecretStr = Field(SecretStr(""), description="Its password.")
    schema_registry_reader_user: str = Field(
        "reader", description="Registry user of the readers (read-only role): producer, Spark job, monitor."
    )
    schema_registry_reader_password: SecretStr = Field(SecretStr(""), description="Its password.")
    # --- Kafka Connect -------------------------------------------------------------------------
    connect_url: str = Field("http://127.0.0.1:8083", description="Kafka Connect REST URL.")
    connect_user: str = Field("admin", description="Connect REST (and its Jolokia agent's) basic auth user.")
    connect_password: SecretStr = Field(
        SecretStr(""),
        description="Connect REST (and Jolokia) basic auth password; empty = no authentication.",
    )
    connect_jolokia_url: str = Field(
        "http://127.0.0.1:8778/jolokia",
        description="Jolokia endpoint of the Connect worker's JVM: its JMX metrics, the InfluxDB sink's "
        "among them (empty = none; the monitor then shows no sink metrics).",
    )
    # --- MariaDB / MySQL -----------------------------------------------------------------------
    mysql_host: str = Field("127.0.0.1", description="MariaDB/MySQL host.")
    mysql_port: int = Field(3306, ge=1, le=65535, description="MariaDB/MySQL port.")
    mysql_database: str = Field("shopstream", description="Database holding the demographics table.")
    mysql_user: str = Field("shopstream", description="Application user (read/write on the database).")
    mysql_password: SecretStr = Field(SecretStr(""), description="Application user's password.")
    mysql_cdc_user: str = Field(
        "shopstream_cdc", description="Least-privilege replication user for the CDC source connector."
    )
    mysql_cdc_password: SecretStr = Field(SecretStr(""), description="Replication user's password.")
    # --- InfluxDB 1.x --------------------------------------------------------------------------
    influxdb_url: str = Field("http://127.0.0.1:8086", description="InfluxDB 1.x HTTP API URL.")
    influxdb_database: str = Field("shopstream", description="InfluxDB database for KPI points.")
    influxdb_admin_user: str = Field(
        "admin", description="InfluxDB admin: only setup (users, grants, databases, retention policies)."
    )
    influxdb_admin_password: SecretStr = Field(SecretStr(""), description="InfluxDB admin's password.")
    influxdb_writer_user: str = Field(
        "writer", description="InfluxDB user with WRITE on the database: the sink connectors, telemetry."
    )
    influxdb_writer_password: SecretStr = Field(SecretStr(""), description="InfluxDB writer's password.")
    influxdb_reader_user: str = Field(
        "reader", description="InfluxDB user with READ on the database: Grafana, the live view, KPIs."
    )
    influxdb_reader_password: SecretStr = Field(SecretStr(""), description="InfluxDB reader's password.")
    influxdb_gzip: bool = Field(
        False,
        description="Whether the InfluxDB sink gzips its writes: worth it across a network; on loopback "
        "it only costs CPU on both sides.",
    )
    influxdb_events_rp: str = Field(
        "events_7d", description="Retention policy of the per-event measurement (created by the sink)."
    )
    influxdb_events_rp_duration: str = Field(
        "7d", description="How long per-event points are kept (InfluxQL duration, at least 1h)."
    )
    # --- Topics --------------------------------------------------------------------------------
    topic_events: str = Field("shop.events", description="Raw click/purchase events (Avro).")
    topic_enriched: str = Field("shop.events.enriched", description="Events joined with demographics.")
    topic_kpi_campaign: str = Field("shop.kpi.campaign", description="Windowed KPIs per campaign.")
    topic_kpi_segment: str = Field("shop.kpi.segment", description="Windowed KPIs per demographic segment.")
    topic_demographics: str = Field("shop.demographics", description="Demographics from the CDC source.")
    topic_events_dlq: str = Field("shop.events.dlq", description="Dead letters of event decoding.")
    topic_kpi_dlq: str = Field(
        "shop.kpi.dlq", description="Dead letters of the InfluxDB sink's KPI connectors."
    )
    topic_enriched_dlq: str = Field(
        "shop.events.enriched.dlq", description="Dead letters of the InfluxDB sink's event connector."
    )
    topic_partitions: int = Field(3, ge=1, description="Partitions of the topics shopstream creates.")
    # --- Business rules of events (shopstream/rules.py) -----------------------------------------
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
    # --- Local stack ---------------------------------------------------------------------------
    state_dir: Path = Field(
        HOME / ".state", description="Data, logs, pid files and configs of the local stack."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "shopstream",
        description="Downloaded artefacts (Maven jars and archives); shared between checkouts.",
    )
    java_home: Path | None = Field(
        None, description="JDK (17+) for Kafka and Connect; default: JAVA_HOME or java on PATH."
    )
    registry_java_home: Path | None = Field(
        None,
        description="JDK (21+) for Apicurio Registry 3.3; default: newest JDK under /usr/lib/jvm.",
    )
    kafka_heap: str = Field("768m", description="Max heap (-Xmx) of the Kafka broker.")
    connect_heap: str = Field("1g", description="Max heap (-Xmx) of the Kafka Connect worker.")
    registry_heap: str = Field("512m", description="Max heap (-Xmx) of Apicurio Registry.")
    # --- Spark job ---------------------------------------------------------------------------
    spark_master: str = Field("local[*]", description="Spark master URL (local[N] or a cluster's).")
    spark_ui_port: int = Field(4040, ge=1, le=65535, description="Spark UI port (bound to 127.0.0.1).")
    spark_enrich_mode: Literal["realtime", "microbatch"] = Field(
        "realtime",
        description="Enrichment query engine: Spark's Real-time Mode (long-running tasks, ms latency; "
        "one task slot per event-topic partition) or micro-batches.",
    )
    spark_trigger_s: float = Field(
        0.0, ge=0, description="Micro-batch interval of the enrichment query in microbatch mode (0 = asap)."
    )
    spark_kpi_trigger_s: float = Field(
        5.0, ge=0, description="Micro-batch interval of the KPI queries (stateful; fewer, larger batches)."
    )
    spark_kpi_max_records_per_batch: int = Field(
        250_000,
        ge=1,
        description="Most enriched records one KPI micro-batch reads (bounds a backlog's batches).",
    )
    spark_window: str = Field("1 minute", description="Tumbling event-time window of the KPIs.")
    spark_watermark: str = Field(
        "2 minutes",
        description="How late an event may arrive and still count; also how long an event id is remembered "
        "to drop its duplicates (until the watermark passes its event time plus this delay).",
    )
    spark_kpi_dedup: bool = Field(
        True,
        description="Count each event_id once in the KPIs (a duplicate arriving within the watermark counts "
        "nowhere); false only to measure what the de-duplication costs.",
    )
    spark_state_store: Literal["rocksdb", "hdfs"] = Field(
        "rocksdb",
        description="State store of the KPI query: RocksDB with changelog checkpointing, or Spark's "
        "in-memory HDFS-backed store (a checkpoint keeps the store it was started with).",
    )
    spark_demographics_refresh_s: float = Field(
        60.0,
        gt=0,
        description="How often the job re-reads demographics from MariaDB (in realtime mode also the "
        "query's checkpoint interval, at least 5 s).",
    )
    spark_shuffle_partitions: int = Field(2, ge=1, description="spark.sql.shuffle.partitions of the job.")
    stack_timeout_s: float = Field(
        120.0, gt=0, description="How long `stack up` waits for one service to become healthy."
    )
    # --- Grafana (Compose) ---------------------------------------------------------------------
    grafana_admin_password: SecretStr = Field(
        SecretStr(""), description="Grafana's admin password under Compose (required there: no default)."
    )
    # === Monitoring and alerting (issue 21; monitoring/README.md) ==================================
    monitoring: bool = Field(
        True,
        description="Run the monitoring: Prometheus and Alertmanager as services of the local stack, the JMX "
        "exporter agents on Kafka and Connect, Spark's Prometheus servlet with streaming metrics, the "
        "producer's and the telemetry sampler's metrics endpoints. false: none of them (measures what "
        "monitoring costs).",
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090",
        description="Prometheus' HTTP API (the local stack's, bound to 127.0.0.1; a remote one for "
        "`shopstream alerts --source prometheus` and the tests' queries).",
    )
    alertmanager_url: str = Field(
        "http://127.0.0.1:9095",
        description="Alertmanager's HTTP API (the local stack's, bound to 127.0.0.1; not 9093, Kafka's "
        "controller port): `shopstream alerts` lists its firing alerts.",
    )
    alertmanager_webhook_url: str = Field(
        "",
        description="Where the local Alertmanager sends notifications (a webhook receiver: an incident "
        "tool, a chat bridge); empty: alerts are listed by `shopstream alerts` and Alertmanager's UI only.",
    )
    alertmanager_config_file: Path | None = Field(
        None,
        description="An Alertmanager configuration of your own for the local Alertmanager (receivers such "
        "as Slack, e-mail, PagerDuty; routes); empty: the stack's own, one receiver with the webhook above.",
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
    prometheus_scrape_interval_s: float = Field(
        15.0, gt=0, description="How often the local Prometheus scrapes every target, seconds."
    )
    prometheus_evaluation_interval_s: float = Field(
        15.0, gt=0, description="How often the local Prometheus evaluates the alert rules, seconds."
    )
    prometheus_retention: str = Field(
        "7d", description="How long the local Prometheus keeps samples (its --storage.tsdb.retention.time)."
    )

    @field_validator("prometheus_url", "alertmanager_url")
    @classmethod
    def _monitoring_urls(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("alertmanager_config_file", mode="before")
    @classmethod
    def _no_config_file(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("alertmanager_config_file")
    @classmethod
    def _config_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value.expanduser().resolve() if value is not None else None

    @field_validator("alertmanager_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        return _http_url(value) if value else value

    @property
    def prometheus_port(self) -> int:
        return _port_of(self.prometheus_url)

    @property
    def alertmanager_port(self) -> int:
        return _port_of(self.alertmanager_url)

    # === end of monitoring and alerting =============================================================

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_have_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {server!r}")
        return value

    @field_validator("schema_registry_url", "connect_url", "influxdb_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("connect_jolokia_url")
    @classmethod
    def _empty_or_http_url(cls, value: str) -> str:
        return _http_url(value) if value else value

    @field_validator("campaign_id_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("kafka_ssl_ca_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("kafka_ssl_ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        return path

    # --- Identities (one per role and service; errors name their settings) ---------------------
    @property
    def kafka_sasl(self) -> bool:
        """Whether Kafka clients authenticate (SASL_PLAINTEXT, SASL_SSL)."""
        return self.kafka_security_protocol.startswith("SASL")

    def kafka_login(self, role: KafkaRole) -> Login:
        user, password = f"kafka_{role}_user", f"kafka_{role}_password"
        return Login("Kafka", getattr(self, user), getattr(self, password), _env(user), _env(password))

    def registry_login(self, role: RegistryRole) -> Login | None:
        """The registry identity of a role: its own, or the admin's when its password is empty (a
        remote registry with one API key sets only the admin's); None when neither is set (an open
        registry). A job's process gets only its own role's password, so its own comes first. Basic
        auth's user info is USER:PASSWORD of it."""
        chosen = role
        if not getattr(self, f"schema_registry_{role}_password").get_secret_value():
            chosen = "admin"
        if not getattr(self, f"schema_registry_{chosen}_password").get_secret_value():
            return None
        user, password = f"schema_registry_{chosen}_user", f"schema_registry_{chosen}_password"
        return Login(
            "schema registry", getattr(self, user), getattr(self, password), _env(user), _env(password)
        )

    def influxdb_login(self, role: InfluxRole) -> Login:
        user, password = f"influxdb_{role}_user", f"influxdb_{role}_password"
        return Login("InfluxDB", getattr(self, user), getattr(self, password), _env(user), _env(password))

    def connect_login(self) -> Login | None:
        """Connect REST's basic auth identity (None: no authentication)."""
        if not self.connect_password.get_secret_value():
            return None
        return Login(
            "Kafka Connect", self.connect_user, self.connect_password, _env("connect_user"),
            _env("connect_password"),
        )  # fmt: skip

    # --- Derived (not settable: they follow from the URLs above) -------------------------------
    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap_servers.split(",")[0].rpartition(":")[2])

    @property
    def registry_port(self) -> int:
        return _port_of(self.schema_registry_url)

    @property
    def registry_base_url(self) -> str:
        """Scheme://host:port of the registry, without the API path."""
        parts = urlsplit(self.schema_registry_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def connect_port(self) -> int:
        return _port_of(self.connect_url)

    @property
    def connect_jolokia_port(self) -> int | None:
        return _port_of(self.connect_jolokia_url) if self.connect_jolokia_url else None

    @property
    def influxdb_port(self) -> int:
        return _port_of(self.influxdb_url)

    @classmethod
    def topic_fields(cls) -> list[str]:
        """Names of the fields that name a topic, in declaration order."""
        return [name for name in cls.model_fields if name.startswith("topic_") and name != "topic_partitions"]

    @property
    def all_topics(self) -> list[str]:
        values = self.model_dump(include=set(self.topic_fields()))
        return [str(values[name]) for name in self.topic_fields()]

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like settings read from the environment."""
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as exc:
            raise settings_error(exc) from exc

    def with_topic_prefix(self, prefix: str) -> Settings:
        """The same settings with every topic renamed ``<prefix>.<topic>`` (tests, benchmarks)."""
        return self.replace(**{name: f"{prefix}.{topic}" for name, topic in self._topics().items()})

    def topic_env(self) -> dict[str, str]:
        """The topic names as SHOPSTREAM_* variables, for child processes."""
        return {f"SHOPSTREAM_{name.upper()}": topic for name, topic in self._topics().items()}

    def as_env(self, secrets: Collection[str] | None = None) -> dict[str, str]:
        """Every setting as its SHOPSTREAM_* variable: a child process built from these has the same
        settings as this one. ``secrets`` (field names) limits the secrets passed on to those the
        child's identity needs: the others are set empty, so that the child does not read them from
        .env either (a registry identity is passed as the one it resolves to, fallback included)."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            if isinstance(value, SecretStr) and secrets is not None and name not in secrets:
                text = ""
            env[f"SHOPSTREAM_{name.upper()}"] = text
        roles: tuple[RegistryRole, ...] = ("connect", "reader")
        for role in roles:  # a registry password falls back to the admin's
            login = self.registry_login(role)
            field = f"schema_registry_{role}_password"
            if secrets is not None and field in secrets and login is not None:
                env[_env(f"schema_registry_{role}_user")] = login.user
                env[_env(field)] = login.secret
        return env

    def _topics(self) -> dict[str, str]:
        return dict(zip(self.topic_fields(), self.all_topics, strict=True))


def _env(field: str) -> str:
    return f"SHOPSTREAM_{field.upper()}"


def secret_fields() -> list[str]:
    """The settings that hold secrets (passwords, USER:PASSWORD user infos)."""
    return [name for name, f in Settings.model_fields.items() if f.annotation is SecretStr]


def settings_error(exc: ValidationError) -> SettingsError:
    """A validation failure as one error naming each variable."""
    problems = [
        f"SHOPSTREAM_{'.'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
        for error in exc.errors()
    ]
    return SettingsError(
        "invalid setting " + "; ".join(problems), "fix the variable (environment or .env; see .env.example)"
    )


def load_settings() -> Settings:
    """Read the settings now (environment, then .env, then defaults); a bad value raises
    ``SettingsError`` naming the variable. Called once, by the ``shopstream`` command's entry."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_error(exc) from exc
