package io.shopstream.connect.influxdb;

import java.math.BigInteger;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.Width;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.ConfigValue;
import org.apache.kafka.common.config.types.Password;

/**
 * The connector's settings. The {@link ConfigDef} built here is THE one place where a setting is described (doc,
 * type, default, validator, group, order, display name); {@link #validate(Map)} adds every cross-field problem to the
 * {@link ConfigValue} of the setting concerned, and the constructor fails with the same messages.
 */
public final class InfluxDbSinkConfig extends AbstractConfig {

    // --- Connection
    public static final String URL = "influxdb.url";
    public static final String API = "influxdb.api";
    public static final String DB = "influxdb.db";
    public static final String RP = "influxdb.rp";
    public static final String USERNAME = "influxdb.username";
    public static final String PASSWORD = "influxdb.password";
    public static final String ORG = "influxdb.org";
    public static final String BUCKET = "influxdb.bucket";
    public static final String TOKEN = "influxdb.token";
    public static final String TIMEOUT_MS = "influxdb.timeout.ms";
    public static final String GZIP = "influxdb.gzip.enable";
    public static final String GZIP_LEVEL = "influxdb.gzip.level";
    // --- Write
    public static final String PRECISION = "influxdb.precision";
    public static final String DB_AUTO_CREATE = "influxdb.db.auto.create";
    public static final String RP_DURATION = "influxdb.rp.duration";
    public static final String CONFLUENT_TIMEUNIT = "influxdb.timeunit";
    // --- Batching
    public static final String BATCH_SIZE = "batch.size";
    public static final String BATCH_MAX_BYTES = "batch.max.bytes";
    public static final String LINGER_MS = "linger.ms";
    // --- Retries
    public static final String MAX_RETRIES = "max.retries";
    public static final String RETRY_BACKOFF_MS = "retry.backoff.ms";
    public static final String RETRY_BACKOFF_MAX_MS = "retry.backoff.max.ms";
    // --- Mapping
    public static final String MEASUREMENT_FORMAT = "measurement.name.format";
    public static final String MEASUREMENT_FIELD = "measurement.field";
    public static final String MEASUREMENT_FIELD_MISSING = "measurement.field.missing";
    public static final String TAGS_FIELDS = "tags.fields";
    public static final String TAGS_KEY_FIELDS = "tags.key.fields";
    public static final String TAGS_KEY_NAME = "tags.key.name";
    public static final String TAGS_TOPIC = "tags.topic";
    public static final String TAGS_MAP_FIELD = "tags.map.field";
    public static final String TAGS_HEADERS = "tags.headers";
    public static final String TAGS_STATIC = "tags.static";
    public static final String FIELDS_INCLUDE = "fields.include";
    public static final String FIELDS_EXCLUDE = "fields.exclude";
    public static final String FLATTEN_SEPARATOR = "fields.flatten.separator";
    public static final String TOMBSTONES = "tombstones.behavior";
    // --- Time
    public static final String TIME_FIELD = "event.time.fieldname";
    public static final String TIME_UNIT = "event.time.unit";
    public static final String DISAMBIGUATE_FIELD = "event.time.disambiguate.field";
    public static final String LINE_PROTOCOL_PRECISION = "line.protocol.precision";

    public static final String TOPIC_PLACEHOLDER = "${topic}";
    /** InfluxDB 1.x's default {@code max-body-size}. */
    public static final int INFLUX_MAX_BODY_SIZE = 25_000_000;
    public static final int MAX_BATCH_SIZE = 100_000;

    private static final String GROUP_CONNECTION = "Connection";
    private static final String GROUP_WRITE = "Write";
    private static final String GROUP_BATCHING = "Batching";
    private static final String GROUP_RETRIES = "Retries";
    private static final String GROUP_MAPPING = "Mapping";
    private static final String GROUP_TIME = "Time";

    private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([^}]*)}");
    private static final Pattern DURATION_PART = Pattern.compile("(\\d+)(ns|u|µ|ms|s|m|h|d|w)");
    private static final ConfigDef CONFIG_DEF = buildConfigDef();

    private final Precision precision;
    private final Precision timeUnit;

    /**
     * @throws ConfigException naming every bad setting, with the same messages as {@link #validate(Map)}
     */
    public InfluxDbSinkConfig(Map<String, String> props) {
        super(CONFIG_DEF, checked(props), false);
        this.precision = Precision.parse(getString(PRECISION));
        this.timeUnit = Precision.parse(getString(TIME_UNIT));
    }

    private static Map<String, String> checked(Map<String, String> props) {
        List<String> problems = problems(props);
        if (!problems.isEmpty()) {
            throw new ConfigException("Invalid InfluxDB sink configuration: " + String.join("; ", problems));
        }
        return props;
    }

    /** @return every problem of the configuration as "setting: message", empty when it is valid */
    public static List<String> problems(Map<String, String> props) {
        List<String> problems = new ArrayList<>();
        for (ConfigValue value : validate(props).values()) {
            for (String message : value.errorMessages()) {
                problems.add(value.name() + ": " + message);
            }
        }
        return problems;
    }

    /** @return the connector's ConfigDef (shared; do not modify) */
    public static ConfigDef configDef() {
        return CONFIG_DEF;
    }

    private static ConfigDef buildConfigDef() {
        ConfigDef def = new ConfigDef();
        defineConnection(def);
        defineWrite(def);
        defineBatching(def);
        defineRetries(def);
        defineMapping(def);
        defineTime(def);
        return def;
    }

    private static void defineConnection(ConfigDef def) {
        int order = defineApi(def, 0);
        order = defineV1Target(def, order);
        order = defineV2Target(def, order);
        defineTransport(def, order);
    }

    private static int defineApi(ConfigDef def, int order) {
        def.define(URL, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                "Base URL of the InfluxDB HTTP API, e.g. http://influxdb:8086 (a path prefix behind a proxy is kept). "
                        + "Points are POSTed to <url>/write (influxdb.api=v1), <url>/api/v2/write (v2) or <url>/api/v3/write_lp "
                        + "(v3). Credentials do not belong in the URL: use influxdb.username/influxdb.password or influxdb.token.",
                GROUP_CONNECTION, ++order, Width.LONG, "InfluxDB URL");
        def.define(API, Type.STRING, WriteApi.V1.configName(), new OneOf(WriteApi.configNames()), Importance.HIGH,
                "Write API: v1 = POST /write?db=&rp= with HTTP Basic auth (InfluxDB 1.x; 2.x and 3.x serve it too); v2 = POST "
                        + "/api/v2/write?org=&bucket= with 'Authorization: Token' (InfluxDB 2.x, and 1.8+ with bucket db/rp and "
                        + "token user:password); v3 = POST /api/v3/write_lp?db=&accept_partial=true with 'Authorization: Bearer' "
                        + "(InfluxDB 3 Core/Enterprise).",
                GROUP_CONNECTION, ++order, Width.SHORT, "Write API");
        return order;
    }

    private static int defineV1Target(ConfigDef def, int order) {
        def.define(DB, Type.STRING, "", Importance.HIGH,
                "Database to write to (the db parameter of /write and of /api/v3/write_lp): required with influxdb.api=v1 "
                        + "and v3, not used with v2.",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Database");
        def.define(RP, Type.STRING, "", Importance.MEDIUM,
                "Retention policy to write to (the rp parameter of /write); empty = the database's default retention policy. "
                        + "influxdb.api=v1 only.",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Retention policy");
        def.define(USERNAME, Type.STRING, "", Importance.HIGH,
                "User for HTTP Basic authentication; empty = no authentication. influxdb.api=v1 only.",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Username");
        def.define(PASSWORD, Type.PASSWORD, "", Importance.HIGH,
                "Password of influxdb.username, sent only in the Authorization header, never logged. "
                        + "Works with config providers, e.g. ${env:INFLUX_PASSWORD}.",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Password");
        return order;
    }

    private static int defineV2Target(ConfigDef def, int order) {
        def.define(ORG, Type.STRING, "", Importance.MEDIUM,
                "Organization (name or ID) of influxdb.bucket: the org parameter of /api/v2/write, required with "
                        + "influxdb.api=v2 (InfluxDB 2.x answers every write without it with 400 'Please provide either orgID or "
                        + "org'; 1.8+ ignores it: any value will do).",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Organization");
        def.define(BUCKET, Type.STRING, "", Importance.HIGH,
                "Bucket to write to: the bucket parameter of /api/v2/write, required with influxdb.api=v2. On InfluxDB 1.8+ "
                        + "it is database/retention-policy (or just database).",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Bucket");
        def.define(TOKEN, Type.PASSWORD, "", Importance.HIGH,
                "API token, sent only in the Authorization header ('Token <token>' with v2, 'Bearer <token>' with v3), "
                        + "never logged: required with influxdb.api=v2 (on InfluxDB 1.8+: user:password), optional with v3 "
                        + "(a server started without authentication). Works with config providers.",
                GROUP_CONNECTION, ++order, Width.MEDIUM, "Token");
        return order;
    }

    private static void defineTransport(ConfigDef def, int order) {
        def.define(TIMEOUT_MS, Type.INT, 30_000, ConfigDef.Range.between(100, 600_000), Importance.MEDIUM,
                "Connect and request timeout of each HTTP request (its whole answer included), in ms. Must be at most a "
                        + "quarter of the consumer's max.poll.interval.ms: put() writes for at most half of that, and starts no "
                        + "request that could end later. The task reads max.poll.interval.ms from "
                        + "consumer.override.max.poll.interval.ms, else from consumer.max.poll.interval.ms in the worker "
                        + "properties file named on the worker's command line, else assumes the consumer default 300000.",
                GROUP_CONNECTION, ++order, Width.SHORT, "HTTP timeout (ms)");
        def.define(GZIP, Type.BOOLEAN, true, Importance.LOW,
                "Compress request bodies with gzip (Content-Encoding: gzip).",
                GROUP_CONNECTION, ++order, Width.SHORT, "Gzip");
        def.define(GZIP_LEVEL, Type.INT, 1, ConfigDef.Range.between(1, 9), Importance.LOW,
                "Deflate level of the gzip bodies: 1 = fastest (default; line protocol still shrinks about 4x), 9 = smallest. "
                        + "Compression runs on the task thread: measured on line protocol, level 6 costs about 3x the CPU of "
                        + "level 1 for a body about 20 % smaller.",
                GROUP_CONNECTION, ++order, Width.SHORT, "Gzip level");
    }

    private static void defineWrite(ConfigDef def) {
        int order = 0;
        def.define(PRECISION, Type.STRING, "ns", new OneOf(Precision.configNames()), Importance.MEDIUM,
                "Write precision: ns, us, ms or s, sent as the precision parameter of the write (n, u, ms, s with "
                        + "influxdb.api=v1; ns, us, ms, s with v2; nanosecond, microsecond, millisecond, second with v3). Event "
                        + "times are converted exactly; a finer source time is truncated toward negative infinity (floor).",
                GROUP_WRITE, ++order, Width.SHORT, "Write precision");
        def.define(DB_AUTO_CREATE, Type.BOOLEAN, false, Importance.MEDIUM,
                "When InfluxDB answers 404 database not found: true = CREATE DATABASE (and CREATE RETENTION POLICY when "
                        + "influxdb.rp.duration is set) and write again; false = the task fails naming the database. "
                        + "influxdb.api=v1 only.",
                GROUP_WRITE, ++order, Width.SHORT, "Create database");
        def.define(RP_DURATION, Type.STRING, "", Importance.LOW,
                "Duration of influxdb.rp (InfluxQL literal, e.g. 30d, 12h, INF; at least 1h) used to create it when "
                        + "influxdb.db.auto.create=true and InfluxDB answers \"retention policy not found\". Empty = never create "
                        + "the retention policy: a missing one fails the task.",
                GROUP_WRITE, ++order, Width.SHORT, "Retention policy duration");
        def.define(CONFLUENT_TIMEUNIT, Type.STRING, null, Importance.LOW,
                "Confluent's setting, NOT supported (rejected when set): use event.time.unit for the unit of integer "
                        + "event times and influxdb.precision for the write precision.",
                GROUP_WRITE, ++order, Width.SHORT, "(Confluent) time unit");
    }

    private static void defineBatching(ConfigDef def) {
        int order = 0;
        def.define(BATCH_SIZE, Type.INT, 1_000, ConfigDef.Range.between(1, MAX_BATCH_SIZE), Importance.MEDIUM,
                "Maximum points per write request. A batch is written from put() as soon as it is full. Its records stay in "
                        + "the worker's heap until then: the default 1000 keeps that short (measured: 5000 made the worker's "
                        + "garbage collection cost about 5 us more CPU per record, for no less work in InfluxDB).",
                GROUP_BATCHING, ++order, Width.SHORT, "Batch size (points)");
        def.define(BATCH_MAX_BYTES, Type.INT, 5_000_000, ConfigDef.Range.between(1_024, INFLUX_MAX_BODY_SIZE), Importance.LOW,
                "Maximum uncompressed line-protocol bytes per /write request (InfluxDB's max-body-size defaults to "
                        + "25000000). A single point larger than this is sent alone.",
                GROUP_BATCHING, ++order, Width.SHORT, "Batch size (bytes)");
        def.define(LINGER_MS, Type.LONG, 100L, ConfigDef.Range.between(0, 60_000), Importance.MEDIUM,
                "How long a point may wait in the buffer for more points before a batch that is not full is written, in ms.",
                GROUP_BATCHING, ++order, Width.SHORT, "Linger (ms)");
    }

    private static void defineRetries(ConfigDef def) {
        int order = 0;
        def.define(MAX_RETRIES, Type.INT, 10, ConfigDef.Range.atLeast(-1), Importance.MEDIUM,
                "Consecutive failed attempts (5xx, 429, timeout, connection refused) retried before the task fails with "
                        + "the last error; -1 = retry until the write succeeds. Retries never sleep inside put(): the task "
                        + "asks the worker to call again later.",
                GROUP_RETRIES, ++order, Width.SHORT, "Max retries");
        def.define(RETRY_BACKOFF_MS, Type.LONG, 1_000L, ConfigDef.Range.between(0, 3_600_000), Importance.LOW,
                "Backoff after the first failed attempt, in ms; doubled after each further consecutive failure. A "
                        + "Retry-After header from InfluxDB (or a proxy) is used instead when present.",
                GROUP_RETRIES, ++order, Width.SHORT, "Retry backoff (ms)");
        def.define(RETRY_BACKOFF_MAX_MS, Type.LONG, 60_000L, ConfigDef.Range.between(0, 3_600_000), Importance.LOW,
                "Upper bound of the backoff (also of a Retry-After), in ms.",
                GROUP_RETRIES, ++order, Width.SHORT, "Max retry backoff (ms)");
    }

    private static void defineMapping(ConfigDef def) {
        int order = defineMeasurement(def, 0);
        order = defineTags(def, order);
        defineFields(def, order);
    }

    private static int defineMeasurement(ConfigDef def, int order) {
        def.define(MEASUREMENT_FORMAT, Type.STRING, TOPIC_PLACEHOLDER, Importance.HIGH,
                "Measurement name; ${topic} is replaced by the record's topic (after SMTs), e.g. kafka_${topic}.",
                GROUP_MAPPING, ++order, Width.MEDIUM, "Measurement name format");
        def.define(MEASUREMENT_FIELD, Type.STRING, "", Importance.MEDIUM,
                "Top-level value field holding the measurement name; when set it replaces measurement.name.format and a "
                        + "record without it is an error record. Not written as a field unless listed in fields.include.",
                GROUP_MAPPING, ++order, Width.MEDIUM, "Measurement field");
        def.define(MEASUREMENT_FIELD_MISSING, Type.STRING, "fail", new OneOf("fail", "format"), Importance.LOW,
                "What a record without measurement.field (missing, null) gets: fail = it is an error record; format = "
                        + "the measurement.name.format name (Confluent's InfluxDB sink behaves so with its 'measurement' field).",
                GROUP_MAPPING, ++order, Width.SHORT, "Missing measurement field");
        return order;
    }

    private static int defineTags(ConfigDef def, int order) {
        def.define(TAGS_FIELDS, Type.LIST, "", Importance.HIGH,
                "Top-level value fields written as tags (tag key = field name). Null or empty values are omitted; "
                        + "non-string values are rendered as strings. Never also written as fields.",
                GROUP_MAPPING, ++order, Width.LONG, "Tags from value fields");
        def.define(TAGS_KEY_FIELDS, Type.LIST, "", Importance.MEDIUM,
                "Fields of a Struct or Map record key written as tags (tag key = field name).",
                GROUP_MAPPING, ++order, Width.LONG, "Tags from key fields");
        def.define(TAGS_KEY_NAME, Type.STRING, "", Importance.MEDIUM,
                "Tag key under which a primitive record key (string, number, boolean) is written; empty = not written.",
                GROUP_MAPPING, ++order, Width.MEDIUM, "Tag for a primitive key");
        def.define(TAGS_TOPIC, Type.STRING, "", Importance.LOW,
                "Tag key under which the record's topic is written; empty = no topic tag.",
                GROUP_MAPPING, ++order, Width.MEDIUM, "Topic tag");
        def.define(TAGS_MAP_FIELD, Type.STRING, "", Importance.MEDIUM,
                "Top-level value field holding a Map (or Struct) of tags: each entry is a tag (key = entry key, value "
                        + "rendered like tags.fields; null or empty values omitted), and the field is never written as fields. "
                        + "Set to tags for the record shape of Confluent's InfluxDB sink ({\"measurement\": ..., \"tags\": "
                        + "{...}, fields...}). Empty = no such field.",
                GROUP_MAPPING, ++order, Width.MEDIUM, "Tags map field");
        def.define(TAGS_HEADERS, Type.LIST, "", Importance.LOW,
                "Record header keys written as tags (tag key = header key; the last header of a key wins; its value "
                        + "rendered like tags.fields; absent, null or empty headers omitted).",
                GROUP_MAPPING, ++order, Width.LONG, "Tags from headers");
        def.define(TAGS_STATIC, Type.LIST, "", Importance.LOW,
                "Constant tags added to every point, as key=value pairs (split at the first '='), e.g. "
                        + "env=prod,region=eu-west.",
                GROUP_MAPPING, ++order, Width.LONG, "Static tags");
        return order;
    }

    private static void defineFields(ConfigDef def, int order) {
        def.define(FIELDS_INCLUDE, Type.LIST, "", Importance.HIGH,
                "Top-level value fields written as fields; empty = all value fields except tags, the event time field and "
                        + "the measurement field (those two are written only when listed here).",
                GROUP_MAPPING, ++order, Width.LONG, "Fields to write");
        def.define(FIELDS_EXCLUDE, Type.LIST, "", Importance.MEDIUM,
                "Top-level value fields never written as fields.",
                GROUP_MAPPING, ++order, Width.LONG, "Fields to skip");
        def.define(FLATTEN_SEPARATOR, Type.STRING, "_", new ConfigDef.NonEmptyString(), Importance.LOW,
                "Separator joining the names of nested Struct/Map fields into one field key, e.g. address_city.",
                GROUP_MAPPING, ++order, Width.SHORT, "Flatten separator");
        def.define(TOMBSTONES, Type.STRING, "ignore", new OneOf("ignore", "fail"), Importance.LOW,
                "Records with a null value: ignore = skip them (counted), fail = fail the task.",
                GROUP_MAPPING, ++order, Width.SHORT, "Tombstones");
    }

    private static void defineTime(ConfigDef def) {
        int order = 0;
        def.define(TIME_FIELD, Type.STRING, "", Importance.HIGH,
                "Top-level value field holding the event time: a Connect Timestamp (or Date), an int/long epoch in "
                        + "event.time.unit, or an ISO-8601 string with offset or Z. Empty = the Kafka record timestamp. Never the "
                        + "wall clock: a record without a usable time is an error record.",
                GROUP_TIME, ++order, Width.MEDIUM, "Event time field");
        def.define(TIME_UNIT, Type.STRING, "ms", new OneOf(Precision.configNames()), Importance.MEDIUM,
                "Unit of integer event times in event.time.fieldname: ns, us, ms or s. Also the granularity that "
                        + "event.time.disambiguate.field works below.",
                GROUP_TIME, ++order, Width.SHORT, "Event time unit");
        def.define(DISAMBIGUATE_FIELD, Type.STRING, "", Importance.MEDIUM,
                "Value field identifying an event (e.g. event_id). When set, the time is truncated to the event time's "
                        + "unit (event.time.unit, or ms for the record timestamp) and a stable hash of this field's value, modulo "
                        + "the number of write-precision steps in one such unit, is added, so distinct events of one series and "
                        + "time do not overwrite each other while a replay of an event overwrites itself. Needs "
                        + "influxdb.precision finer than that unit.",
                GROUP_TIME, ++order, Width.MEDIUM, "Disambiguation field");
        def.define(LINE_PROTOCOL_PRECISION, Type.STRING, "ns", new OneOf(Precision.configNames()), Importance.LOW,
                "Unit of the timestamps of records that are already line protocol (a string or bytes value, e.g. from "
                        + "Telegraf's Kafka output, whose default is ns); converted exactly to influxdb.precision (floor). A "
                        + "line without a timestamp gets the Kafka record timestamp.",
                GROUP_TIME, ++order, Width.SHORT, "Line protocol precision");
    }

    /**
     * Validates like {@code PUT /connector-plugins/{class}/config/validate}: every setting's own problems
     * (type, validator) plus the cross-field ones, each added to the ConfigValue of the setting concerned.
     * Never throws for a bad value.
     *
     * @return one ConfigValue per defined setting, in definition order
     */
    public static Map<String, ConfigValue> validate(Map<String, String> props) {
        Map<String, ConfigValue> results = CONFIG_DEF.validateAll(props);
        new CrossChecks(props, results).run();
        return results;
    }

    /** Cross-field checks reading the parsed value of a setting only when the setting itself is valid. */
    private static final class CrossChecks {
        private final Map<String, String> props;
        private final Map<String, ConfigValue> results;

        /** Settings whose own value is bad (type or validator): cross checks skip them. */
        private final Set<String> invalid = new java.util.HashSet<>();

        CrossChecks(Map<String, String> props, Map<String, ConfigValue> results) {
            this.props = props;
            this.results = results;
            for (ConfigValue v : results.values()) {
                if (!v.errorMessages().isEmpty()) {
                    invalid.add(v.name());
                }
            }
        }

        private boolean ok(String key) {
            return results.containsKey(key) && !invalid.contains(key);
        }

        private void error(String key, String message) {
            results.get(key).addErrorMessage(message);
        }

        private String str(String key) {
            Object v = results.get(key).value();
            return v == null ? "" : v.toString().trim();
        }

        private List<String> list(String key) {
            Object v = results.get(key).value();
            if (!(v instanceof List)) {
                return List.of();
            }
            List<String> out = new ArrayList<>();
            for (Object o : (List<?>) v) {
                out.add(String.valueOf(o).trim());
            }
            return out;
        }

        void run() {
            checkUrl();
            checkApi();
            checkCredentials();
            checkRetentionPolicy();
            checkRetries();
            checkTimeout();
            checkMeasurement();
            checkTagsAndFields();
            checkTime();
            if (ok(CONFLUENT_TIMEUNIT) && results.get(CONFLUENT_TIMEUNIT).value() != null) {
                error(CONFLUENT_TIMEUNIT, "not supported by this connector: set " + TIME_UNIT
                        + " (unit of integer event times) and " + PRECISION + " (write precision) instead");
            }
        }

        private void checkUrl() {
            if (!ok(URL)) {
                return;
            }
            String url = str(URL);
            try {
                URI uri = new URI(url);
                String scheme = uri.getScheme();
                if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))) {
                    error(URL, "must be an http:// or https:// URL, got '" + url + "'");
                } else if (uri.getHost() == null) {
                    error(URL, "has no host: '" + url + "'");
                } else if (uri.getRawUserInfo() != null) {
                    error(URL, "must not contain credentials; use " + USERNAME + " and " + PASSWORD);
                } else if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
                    error(URL, "must not contain a query or fragment (db, rp and precision are settings of their own)");
                }
            } catch (URISyntaxException e) {
                error(URL, "is not a valid URL: " + e.getMessage());
            }
        }

        /** What each write API needs, and the settings it does not use (set by mistake, they would be ignored silently). */
        private void checkApi() {
            if (!ok(API)) {
                return;
            }
            WriteApi api = WriteApi.parse(str(API));
            switch (api) {
                case V1 -> {
                    required(DB, api, "the database to write to");
                    unused(api, ORG, BUCKET, TOKEN);
                }
                case V2 -> {
                    required(BUCKET, api, "the bucket to write to (on InfluxDB 1.8+: database/retention-policy)");
                    required(ORG, api, "the bucket's organization (InfluxDB 1.8+ ignores it: any value)");
                    if (ok(TOKEN) && secret(TOKEN).isEmpty()) {
                        error(TOKEN, "Missing required configuration for " + API + "=v2: the API token (on InfluxDB 1.8+: user:password)");
                    }
                    unused(api, DB, RP, USERNAME, PASSWORD, DB_AUTO_CREATE);
                }
                case V3 -> {
                    required(DB, api, "the database to write to");
                    unused(api, RP, USERNAME, PASSWORD, ORG, BUCKET, DB_AUTO_CREATE);
                }
            }
        }

        private void required(String key, WriteApi api, String what) {
            if (ok(key) && str(key).isEmpty()) {
                error(key, "Missing required configuration for " + API + "=" + api.configName() + ": " + what);
            }
        }

        private void unused(WriteApi api, String... keys) {
            for (String key : keys) {
                Object value = ok(key) ? results.get(key).value() : null;
                boolean set = value instanceof Password p ? !p.value().isEmpty()
                        : value instanceof Boolean b ? b : value != null && !value.toString().trim().isEmpty();
                if (set) {
                    error(key, "is not used with " + API + "=" + api.configName() + " (see the README's settings of each write API)");
                }
            }
        }

        private String secret(String key) {
            return results.get(key).value() instanceof Password p ? p.value() : "";
        }

        private void checkCredentials() {
            if (ok(PASSWORD) && ok(USERNAME)) {
                Object p = results.get(PASSWORD).value();
                boolean hasPassword = p instanceof Password && !((Password) p).value().isEmpty();
                if (hasPassword && str(USERNAME).isEmpty()) {
                    error(USERNAME, PASSWORD + " is set but " + USERNAME + " is empty");
                }
            }
        }

        private void checkRetentionPolicy() {
            if (!ok(RP_DURATION)) {
                return;
            }
            String duration = str(RP_DURATION);
            if (duration.isEmpty()) {
                return;
            }
            if (ok(RP) && str(RP).isEmpty()) {
                error(RP_DURATION, "is set but " + RP + " is empty: it is the duration of the retention policy " + RP + " names");
            }
            if (ok(DB_AUTO_CREATE) && !Boolean.TRUE.equals(results.get(DB_AUTO_CREATE).value())) {
                error(RP_DURATION, "is only used with " + DB_AUTO_CREATE + "=true");
            }
            String problem = durationProblem(duration);
            if (problem != null) {
                error(RP_DURATION, problem);
            }
        }

        private void checkRetries() {
            if (ok(RETRY_BACKOFF_MS) && ok(RETRY_BACKOFF_MAX_MS)) {
                long base = (Long) results.get(RETRY_BACKOFF_MS).value();
                long max = (Long) results.get(RETRY_BACKOFF_MAX_MS).value();
                if (max < base) {
                    error(RETRY_BACKOFF_MAX_MS, "(" + max + ") is less than " + RETRY_BACKOFF_MS + " (" + base + ")");
                }
            }
        }

        private void checkTimeout() {
            if (!ok(TIMEOUT_MS)) {
                return;
            }
            PollInterval maxPoll;
            try {
                maxPoll = PollInterval.of(props);
            } catch (NumberFormatException e) {
                error(TIMEOUT_MS, PollInterval.OVERRIDE + " is not a number: cannot check the timeout against it");
                return;
            }
            int timeout = (Integer) results.get(TIMEOUT_MS).value();
            if ((long) timeout * 4 > maxPoll.ms()) {
                error(TIMEOUT_MS, "(" + timeout + " ms) must be at most a quarter of max.poll.interval.ms (" + maxPoll.ms()
                        + " ms, from " + maxPoll.source() + "): put() may issue several requests and must return before the "
                        + "consumer is considered dead");
            }
        }

        private void checkMeasurement() {
            String field = ok(MEASUREMENT_FIELD) ? str(MEASUREMENT_FIELD) : "";
            boolean fallback = ok(MEASUREMENT_FIELD_MISSING) && str(MEASUREMENT_FIELD_MISSING).equalsIgnoreCase("format");
            if (fallback && ok(MEASUREMENT_FIELD) && field.isEmpty()) {
                error(MEASUREMENT_FIELD_MISSING, "=format only applies to " + MEASUREMENT_FIELD + ", which is not set");
            }
            if (!ok(MEASUREMENT_FORMAT)) {
                return;
            }
            String format = str(MEASUREMENT_FORMAT);
            if (format.isEmpty()) {
                if (field.isEmpty()) {
                    error(MEASUREMENT_FORMAT, "is empty and " + MEASUREMENT_FIELD + " is not set: no measurement name");
                } else if (fallback) {
                    error(MEASUREMENT_FORMAT, "is empty but " + MEASUREMENT_FIELD_MISSING + "=format uses it for records without "
                            + MEASUREMENT_FIELD);
                }
                return;
            }
            Matcher m = PLACEHOLDER.matcher(format);
            while (m.find()) {
                if (!m.group().equals(TOPIC_PLACEHOLDER)) {
                    error(MEASUREMENT_FORMAT, "unknown placeholder " + m.group() + " (only " + TOPIC_PLACEHOLDER + " is supported)");
                }
            }
            try {
                LineProtocolRules.checkMeasurement(format.replace(TOPIC_PLACEHOLDER, "topic"));
            } catch (MappingException e) {
                error(MEASUREMENT_FORMAT, e.getMessage());
            }
        }

        private void checkTagsAndFields() {
            // every tag key, with the setting it comes from
            Map<String, String> tagSource = new LinkedHashMap<>();
            addTagNames(TAGS_FIELDS, ok(TAGS_FIELDS) ? list(TAGS_FIELDS) : List.of(), tagSource);
            addTagNames(TAGS_KEY_FIELDS, ok(TAGS_KEY_FIELDS) ? list(TAGS_KEY_FIELDS) : List.of(), tagSource);
            for (String key : List.of(TAGS_KEY_NAME, TAGS_TOPIC)) {
                if (ok(key) && !str(key).isEmpty()) {
                    addTagNames(key, List.of(str(key)), tagSource);
                }
            }
            addTagNames(TAGS_HEADERS, ok(TAGS_HEADERS) ? list(TAGS_HEADERS) : List.of(), tagSource);
            addTagNames(TAGS_STATIC, ok(TAGS_STATIC) ? staticTagKeys() : List.of(), tagSource);
            checkTagsMapField();
            List<String> include = ok(FIELDS_INCLUDE) ? list(FIELDS_INCLUDE) : List.of();
            List<String> exclude = ok(FIELDS_EXCLUDE) ? list(FIELDS_EXCLUDE) : List.of();
            checkNames(FIELDS_INCLUDE, include, "field key");
            checkNames(FIELDS_EXCLUDE, exclude, null);
            for (String f : include) {
                String tagKey = tagSource.get(f);
                if (tagKey != null) {
                    error(FIELDS_INCLUDE, "'" + f + "' is also a tag (" + tagKey + "): a tag and a field with one name are ambiguous in InfluxQL");
                    error(tagKey, "'" + f + "' is also listed in " + FIELDS_INCLUDE + ": a name is either a tag or a field");
                }
                if (exclude.contains(f)) {
                    error(FIELDS_EXCLUDE, "'" + f + "' is also listed in " + FIELDS_INCLUDE);
                }
            }
            if (ok(FLATTEN_SEPARATOR)) {
                try {
                    LineProtocolRules.checkName("field key", "a" + results.get(FLATTEN_SEPARATOR).value() + "b");
                } catch (MappingException e) {
                    error(FLATTEN_SEPARATOR, "cannot be used in field keys: " + e.getMessage());
                }
            }
            List<String> valueTags = ok(TAGS_FIELDS) ? list(TAGS_FIELDS) : List.of();
            String measurementField = ok(MEASUREMENT_FIELD) ? str(MEASUREMENT_FIELD) : "";
            if (!measurementField.isEmpty() && valueTags.contains(measurementField)) {
                error(MEASUREMENT_FIELD, "'" + measurementField + "' is also listed in " + TAGS_FIELDS);
            }
            String timeField = ok(TIME_FIELD) ? str(TIME_FIELD) : "";
            if (!timeField.isEmpty() && valueTags.contains(timeField)) {
                error(TIME_FIELD, "'" + timeField + "' is also listed in " + TAGS_FIELDS + ": the event time cannot be a tag");
            }
            if (!timeField.isEmpty() && timeField.equals(measurementField)) {
                error(MEASUREMENT_FIELD, "'" + measurementField + "' is also " + TIME_FIELD);
            }
        }

        /** @return the keys of tags.static, after adding an error for each malformed pair */
        private List<String> staticTagKeys() {
            List<String> keys = new ArrayList<>();
            for (String pair : list(TAGS_STATIC)) {
                int eq = pair.indexOf('=');
                if (eq <= 0 || eq == pair.length() - 1) {
                    error(TAGS_STATIC, "'" + pair + "' is not a key=value pair with a non-empty key and value");
                    continue;
                }
                String value = pair.substring(eq + 1).trim();
                try {
                    LineProtocolRules.checkName("tag value", value);
                } catch (MappingException e) {
                    error(TAGS_STATIC, e.getMessage());
                }
                keys.add(pair.substring(0, eq).trim());
            }
            return keys;
        }

        private void checkTagsMapField() {
            if (!ok(TAGS_MAP_FIELD)) {
                return;
            }
            String field = str(TAGS_MAP_FIELD);
            if (field.isEmpty()) {
                return;
            }
            for (String other : List.of(TAGS_FIELDS, FIELDS_INCLUDE)) {
                if (ok(other) && list(other).contains(field)) {
                    error(TAGS_MAP_FIELD, "'" + field + "' is also listed in " + other);
                }
            }
            for (String other : List.of(MEASUREMENT_FIELD, TIME_FIELD)) {
                if (ok(other) && str(other).equals(field)) {
                    error(TAGS_MAP_FIELD, "'" + field + "' is also " + other);
                }
            }
        }

        private void addTagNames(String key, List<String> names, Map<String, String> tagSource) {
            checkNames(key, names, "tag key");
            for (String name : names) {
                String previous = tagSource.putIfAbsent(name, key);
                if (previous != null) {
                    error(key, "tag key '" + name + "' is already defined by " + (previous.equals(key) ? "this setting" : previous));
                }
            }
        }

        private void checkNames(String key, List<String> names, String what) {
            Set<String> seen = new LinkedHashSet<>();
            for (String name : names) {
                if (name.isEmpty()) {
                    error(key, "contains an empty name");
                    continue;
                }
                if (!seen.add(name) && !key.equals(TAGS_FIELDS) && !key.equals(TAGS_KEY_FIELDS)) {
                    error(key, "lists '" + name + "' twice");
                }
                if (what != null) {
                    try {
                        LineProtocolRules.checkName(what, name);
                    } catch (MappingException e) {
                        error(key, e.getMessage());
                    }
                }
            }
        }

        private void checkTime() {
            String timeField = ok(TIME_FIELD) ? str(TIME_FIELD) : "";
            if (ok(TIME_UNIT) && props.containsKey(TIME_UNIT) && timeField.isEmpty()) {
                error(TIME_UNIT, "only applies to " + TIME_FIELD + ", which is not set (the Kafka record timestamp is in ms)");
            }
            if (!ok(DISAMBIGUATE_FIELD)) {
                return;
            }
            String disambiguate = str(DISAMBIGUATE_FIELD);
            if (disambiguate.isEmpty()) {
                return;
            }
            if (disambiguate.equals(timeField)) {
                error(DISAMBIGUATE_FIELD, "must name another field than " + TIME_FIELD);
            }
            if (ok(PRECISION) && ok(TIME_UNIT)) {
                Precision precision = Precision.parse(str(PRECISION));
                Precision source = timeField.isEmpty() ? Precision.MS : Precision.parse(str(TIME_UNIT));
                if (!precision.finerThan(source)) {
                    String message = "needs " + PRECISION + " finer than the event time's unit: " + PRECISION + "="
                            + precision.configName() + " leaves no room below " + source.configName()
                            + (timeField.isEmpty() ? " (the Kafka record timestamp)" : " (" + TIME_UNIT + ")")
                            + ", e.g. set " + PRECISION + "=ns";
                    error(DISAMBIGUATE_FIELD, message);
                    error(PRECISION, message);
                }
            }
        }
    }

    /** A case-insensitive choice whose description lists the choices in a fixed order. */
    static final class OneOf implements ConfigDef.Validator {
        private final List<String> choices;

        OneOf(String... choices) {
            this.choices = List.of(choices);
        }

        @Override
        public void ensureValid(String name, Object value) {
            String v = value == null ? "" : value.toString().trim();
            for (String c : choices) {
                if (c.equalsIgnoreCase(v)) {
                    return;
                }
            }
            throw new ConfigException(name, value, "must be one of " + this);
        }

        @Override
        public String toString() {
            return String.join(", ", choices);
        }
    }

    /** @return null when {@code duration} is a valid InfluxQL retention policy duration, else the problem */
    static String durationProblem(String duration) {
        if (duration.equalsIgnoreCase("INF")) {
            return null;
        }
        Matcher m = DURATION_PART.matcher(duration);
        int end = 0;
        BigInteger nanos = BigInteger.ZERO;
        while (m.find() && m.start() == end) {
            end = m.end();
            long unit;
            switch (m.group(2)) {
                case "ns": unit = 1L; break;
                case "u": case "µ": unit = 1_000L; break;
                case "ms": unit = 1_000_000L; break;
                case "s": unit = 1_000_000_000L; break;
                case "m": unit = 60_000_000_000L; break;
                case "h": unit = 3_600_000_000_000L; break;
                case "d": unit = 86_400_000_000_000L; break;
                default: unit = 604_800_000_000_000L; break;
            }
            nanos = nanos.add(new BigInteger(m.group(1)).multiply(BigInteger.valueOf(unit)));
        }
        if (end == 0 || end != duration.length()) {
            return "'" + duration + "' is not an InfluxQL duration (e.g. 30d, 12h, 1w, INF)";
        }
        if (nanos.compareTo(BigInteger.valueOf(3_600_000_000_000L)) < 0) {
            return "'" + duration + "' is shorter than 1h, the minimum InfluxDB accepts for a retention policy";
        }
        return null;
    }

    // ---- typed getters

    public String url() {
        return getString(URL).trim();
    }

    public WriteApi api() {
        return WriteApi.parse(getString(API));
    }

    public String db() {
        return getString(DB).trim();
    }

    public String org() {
        return getString(ORG).trim();
    }

    public String bucket() {
        return getString(BUCKET).trim();
    }

    public Password token() {
        Password t = getPassword(TOKEN);
        return t == null ? new Password("") : t;
    }

    public String rp() {
        return getString(RP).trim();
    }

    public String username() {
        return getString(USERNAME).trim();
    }

    public Password password() {
        Password p = getPassword(PASSWORD);
        return p == null ? new Password("") : p;
    }

    public int timeoutMs() {
        return getInt(TIMEOUT_MS);
    }

    public boolean gzip() {
        return getBoolean(GZIP);
    }

    public int gzipLevel() {
        return getInt(GZIP_LEVEL);
    }

    public Precision precision() {
        return precision;
    }

    public boolean dbAutoCreate() {
        return getBoolean(DB_AUTO_CREATE);
    }

    public String rpDuration() {
        return getString(RP_DURATION).trim();
    }

    public int batchSize() {
        return getInt(BATCH_SIZE);
    }

    public int batchMaxBytes() {
        return getInt(BATCH_MAX_BYTES);
    }

    public long lingerMs() {
        return getLong(LINGER_MS);
    }

    public int maxRetries() {
        return getInt(MAX_RETRIES);
    }

    public long retryBackoffMs() {
        return getLong(RETRY_BACKOFF_MS);
    }

    public long retryBackoffMaxMs() {
        return getLong(RETRY_BACKOFF_MAX_MS);
    }

    public String measurementFormat() {
        return getString(MEASUREMENT_FORMAT).trim();
    }

    public String measurementField() {
        return getString(MEASUREMENT_FIELD).trim();
    }

    public List<String> tagFields() {
        return trimmed(getList(TAGS_FIELDS));
    }

    public List<String> tagKeyFields() {
        return trimmed(getList(TAGS_KEY_FIELDS));
    }

    public String tagKeyName() {
        return getString(TAGS_KEY_NAME).trim();
    }

    public String tagTopic() {
        return getString(TAGS_TOPIC).trim();
    }

    /** @return true when a record without measurement.field gets measurement.name.format's name */
    public boolean measurementFieldFallback() {
        return getString(MEASUREMENT_FIELD_MISSING).trim().equalsIgnoreCase("format");
    }

    public String tagsMapField() {
        return getString(TAGS_MAP_FIELD).trim();
    }

    public List<String> tagHeaders() {
        return trimmed(getList(TAGS_HEADERS));
    }

    /** @return the static tags, in the order given */
    public Map<String, String> staticTags() {
        Map<String, String> tags = new LinkedHashMap<>();
        for (String pair : trimmed(getList(TAGS_STATIC))) {
            int eq = pair.indexOf('=');
            tags.put(pair.substring(0, eq).trim(), pair.substring(eq + 1).trim());
        }
        return tags;
    }

    public Precision lineProtocolPrecision() {
        return Precision.parse(getString(LINE_PROTOCOL_PRECISION));
    }

    public List<String> fieldsInclude() {
        return trimmed(getList(FIELDS_INCLUDE));
    }

    public List<String> fieldsExclude() {
        return trimmed(getList(FIELDS_EXCLUDE));
    }

    public String flattenSeparator() {
        return getString(FLATTEN_SEPARATOR);
    }

    public boolean failOnTombstone() {
        return getString(TOMBSTONES).trim().equalsIgnoreCase("fail");
    }

    public String timeField() {
        return getString(TIME_FIELD).trim();
    }

    public Precision timeUnit() {
        return timeUnit;
    }

    public String disambiguateField() {
        return getString(DISAMBIGUATE_FIELD).trim();
    }

    /** @return the consumer's max.poll.interval.ms this task runs under, as far as the task can see it */
    public PollInterval maxPollInterval() {
        return PollInterval.of(originalsStrings());
    }

    private static List<String> trimmed(List<String> values) {
        List<String> out = new ArrayList<>(values.size());
        for (String v : values) {
            out.add(v.trim());
        }
        return Collections.unmodifiableList(out);
    }
}
