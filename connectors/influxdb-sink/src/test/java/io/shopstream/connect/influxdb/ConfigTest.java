package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.Config;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.config.ConfigValue;
import org.junit.jupiter.api.Test;

class ConfigTest {

    private static Map<String, List<String>> errors(Map<String, String> props) {
        Config result = new InfluxDbSinkConnector().validate(props);
        Map<String, List<String>> errors = new HashMap<>();
        for (ConfigValue v : result.configValues()) {
            if (!v.errorMessages().isEmpty()) {
                errors.put(v.name(), v.errorMessages());
            }
        }
        return errors;
    }

    private static void assertError(Map<String, List<String>> errors, String key, String fragment) {
        List<String> messages = errors.get(key);
        assertNotNull(messages, "no error on " + key + " in " + errors);
        assertTrue(messages.stream().anyMatch(m -> m.contains(fragment)), key + ": " + messages + " lacks '" + fragment + "'");
    }

    @Test
    void aGoodConfigurationHasNoErrors() {
        Map<String, String> good = config("influxdb.username", "writer", "influxdb.password", "${env:INFLUX_PASSWORD}", "influxdb.rp", "week",
                "influxdb.db.auto.create", "true", "influxdb.rp.duration", "7d", "measurement.name.format", "kafka_${topic}",
                "tags.fields", "shop,country", "tags.key.fields", "customer", "tags.topic", "topic", "fields.exclude", "secret",
                "event.time.fieldname", "at", "event.time.unit", "ms", "event.time.disambiguate.field", "event_id", "influxdb.precision", "ns",
                "topics", "orders", "errors.tolerance", "all", "consumer.override.max.poll.interval.ms", "600000", "influxdb.timeout.ms", "150000");
        assertEquals(Map.of(), errors(good));
        InfluxDbSinkConfig parsed = new InfluxDbSinkConfig(good);
        assertEquals(Precision.NS, parsed.precision());
        assertEquals(List.of("shop", "country"), parsed.tagFields());
        assertEquals(new PollInterval(600_000L, PollInterval.OVERRIDE), parsed.maxPollInterval());
        assertEquals("${env:INFLUX_PASSWORD}", parsed.password().value(), "the worker resolves config providers before the task sees it");
    }

    @Test
    void everyMistakeIsReportedOnItsOwnSetting() {
        Map<String, String> bad = config("influxdb.url", "http://admin:pw@influx:8086", "influxdb.db", null,
                "influxdb.password", "pw", "influxdb.timeout.ms", "100000", "retry.backoff.max.ms", "10",
                "influxdb.rp.duration", "30m", "influxdb.timeunit", "MILLISECONDS", "batch.size", "0", "linger.ms", "-1",
                "influxdb.precision", "ms", "event.time.disambiguate.field", "event_id", "event.time.unit", "us",
                "measurement.name.format", "${topc}", "tags.fields", "shop,time", "tags.topic", "shop",
                "fields.include", "amount,shop", "fields.exclude", "amount", "tombstones.behavior", "delete",
                "fields.flatten.separator", "\\,");
        Map<String, List<String>> errors = errors(bad);
        assertError(errors, "influxdb.url", "must not contain credentials");
        assertError(errors, "influxdb.db", "Missing required configuration");
        assertError(errors, "influxdb.username", "influxdb.password is set but influxdb.username is empty");
        assertError(errors, "influxdb.timeout.ms", "at most a quarter of max.poll.interval.ms (300000 ms");
        assertError(errors, "retry.backoff.max.ms", "is less than retry.backoff.ms");
        assertError(errors, "influxdb.rp.duration", "influxdb.rp is empty");
        assertError(errors, "influxdb.rp.duration", "only used with influxdb.db.auto.create=true");
        assertError(errors, "influxdb.rp.duration", "shorter than 1h");
        assertError(errors, "influxdb.timeunit", "not supported");
        assertError(errors, "batch.size", "Value must be at least 1");
        assertError(errors, "linger.ms", "Value must be at least 0");
        assertError(errors, "event.time.disambiguate.field", "influxdb.precision=ms leaves no room below ms");
        assertError(errors, "influxdb.precision", "leaves no room below ms");
        assertError(errors, "event.time.unit", "only applies to event.time.fieldname");
        assertError(errors, "measurement.name.format", "unknown placeholder ${topc}");
        assertError(errors, "tags.fields", "'time' cannot be used as a tag key");
        assertError(errors, "tags.fields", "'shop' is also listed in fields.include");
        assertError(errors, "tags.topic", "tag key 'shop' is already defined by tags.fields");
        assertError(errors, "fields.include", "'shop' is also a tag (tags.fields)");
        assertError(errors, "fields.exclude", "'amount' is also listed in fields.include");
        assertError(errors, "tombstones.behavior", "Invalid value delete for configuration tombstones.behavior: must be one of ignore, fail");
        assertError(errors, "fields.flatten.separator", "cannot be used in field keys");
        assertEquals(19, errors.size(), errors.toString());
    }

    @Test
    void moreCrossFieldChecks() {
        assertError(errors(config("influxdb.url", "influx:8086")), "influxdb.url", "must be an http:// or https:// URL");
        assertError(errors(config("influxdb.url", "http://influx:8086/?db=x")), "influxdb.url", "must not contain a query");
        assertError(errors(config("influxdb.rp", "r", "influxdb.db.auto.create", "true", "influxdb.rp.duration", "30 days")),
                "influxdb.rp.duration", "not an InfluxQL duration");
        assertError(errors(config("measurement.name.format", "")), "measurement.name.format", "no measurement name");
        assertError(errors(config("measurement.field", "kind", "tags.fields", "kind")), "measurement.field", "also listed in tags.fields");
        assertError(errors(config("event.time.fieldname", "at", "tags.fields", "at")), "event.time.fieldname", "cannot be a tag");
        assertEquals(Map.of(), errors(config("event.time.fieldname", "at", "event.time.unit", "ms", "event.time.disambiguate.field", "id",
                "influxdb.precision", "us")), "us is finer than ms: 1000 slots");
        assertError(errors(config("event.time.fieldname", "at", "event.time.unit", "ns", "event.time.disambiguate.field", "id")),
                "event.time.disambiguate.field", "leaves no room below ns");
        assertError(errors(config("tags.key.fields", "id", "fields.include", "id")), "tags.key.fields", "also listed in fields.include");
        assertError(errors(config("tags.key.name", "k", "tags.fields", "k")), "tags.key.name", "already defined by tags.fields");
        assertError(errors(config("consumer.override.max.poll.interval.ms", "100000", "influxdb.timeout.ms", "30000")),
                "influxdb.timeout.ms", "(100000 ms");
        assertError(errors(config("measurement.name.format", "a\\ ${topic}")), "measurement.name.format", "backslash");
    }

    @Test
    void theNewSettingsAreValidatedEachOnItsOwnKey() {
        Map<String, List<String>> errors = errors(config("tags.static", "env=prod,=x,flag,k=a\nb,shop=y", "tags.headers", "source,time",
                "tags.fields", "shop", "tags.map.field", "tags", "fields.include", "tags,amount", "measurement.field.missing", "maybe",
                "line.protocol.precision", "h", "max.retries", "-2"));
        assertError(errors, "tags.static", "'=x' is not a key=value pair");
        assertError(errors, "tags.static", "'flag' is not a key=value pair");
        assertError(errors, "tags.static", "contains a newline");
        assertError(errors, "tags.static", "tag key 'shop' is already defined by tags.fields");
        assertError(errors, "tags.headers", "'time' cannot be used as a tag key");
        assertError(errors, "tags.map.field", "'tags' is also listed in fields.include");
        assertError(errors, "measurement.field.missing", "must be one of fail, format");
        assertError(errors, "line.protocol.precision", "must be one of ns, us, ms, s");
        assertError(errors, "max.retries", "Value must be at least -1");
        assertEquals(6, errors.size(), errors.toString());
        assertError(errors(config("measurement.field.missing", "format")), "measurement.field.missing", "only applies to measurement.field");
        assertError(errors(config("measurement.field", "m", "measurement.field.missing", "format", "measurement.name.format", "")),
                "measurement.name.format", "is empty but measurement.field.missing=format");
        assertError(errors(config("tags.map.field", "at", "event.time.fieldname", "at")), "tags.map.field", "'at' is also event.time.fieldname");
        Map<String, String> good = config("max.retries", "-1", "tags.static", "env=prod,region=eu", "tags.headers", "source",
                "tags.map.field", "tags", "measurement.field", "measurement", "measurement.field.missing", "format", "line.protocol.precision", "s");
        assertEquals(Map.of(), errors(good));
        InfluxDbSinkConfig parsed = new InfluxDbSinkConfig(good);
        assertEquals(-1, parsed.maxRetries());
        assertEquals(Map.of("env", "prod", "region", "eu"), parsed.staticTags());
        assertEquals(List.of("source"), parsed.tagHeaders());
        assertEquals("tags", parsed.tagsMapField());
        assertTrue(parsed.measurementFieldFallback());
        assertEquals(Precision.S, parsed.lineProtocolPrecision());
    }

    @Test
    void startFailsFastWithTheSameMessages() {
        Map<String, String> bad = config("influxdb.url", "ftp://influx", "batch.size", "0", "tags.fields", "a", "fields.include", "a");
        ConfigException e = assertThrows(ConfigException.class, () -> new InfluxDbSinkConnector().start(bad));
        assertTrue(e.getMessage().contains("influxdb.url: must be an http:// or https:// URL, got 'ftp://influx'")
                && e.getMessage().contains("batch.size: Invalid value 0") && e.getMessage().contains("fields.include: 'a' is also a tag"),
                e.getMessage());
        InfluxDbSinkTask task = new InfluxDbSinkTask();
        task.initialize(new TestSupport.Context(bad, null, null));
        ConfigException t = assertThrows(ConfigException.class, () -> task.start(bad));
        assertEquals(e.getMessage(), t.getMessage());
    }

    @Test
    void everySettingIsFullyDescribedInTheConfigDef() {
        ConfigDef def = new InfluxDbSinkConnector().config();
        assertEquals(40, def.configKeys().size()); // 36 + influxdb.api, influxdb.org, influxdb.bucket, influxdb.token (issue 20)
        for (ConfigDef.ConfigKey key : def.configKeys().values()) {
            assertTrue(key.documentation != null && key.documentation.length() > 20, key.name);
            assertNotNull(key.group, key.name);
            assertTrue(key.orderInGroup > 0, key.name);
            assertNotNull(key.displayName, key.name);
        }
        assertEquals(ConfigDef.Type.PASSWORD, def.configKeys().get("influxdb.password").type);
        assertEquals(ConfigDef.Type.PASSWORD, def.configKeys().get("influxdb.token").type);
        for (String confluent : List.of("influxdb.url", "influxdb.db", "influxdb.username", "influxdb.password", "measurement.name.format",
                "event.time.fieldname", "influxdb.gzip.enable", "max.retries", "retry.backoff.ms")) {
            assertTrue(def.configKeys().containsKey(confluent), confluent);
        }
        assertEquals(10, def.configKeys().get("max.retries").defaultValue);
        assertEquals(1_000L, def.configKeys().get("retry.backoff.ms").defaultValue);
        assertEquals(1_000, def.configKeys().get("batch.size").defaultValue, "issue 20: was 5000, whose buffered records cost GC");
        assertEquals(100L, def.configKeys().get("linger.ms").defaultValue);
        assertEquals(true, def.configKeys().get("influxdb.gzip.enable").defaultValue);
        assertEquals(1, def.configKeys().get("influxdb.gzip.level").defaultValue, "fastest: compression runs on the task thread");
    }

    @Test
    void connectorHandsEveryTaskTheConfigurationAndReportsTheBuildVersion() {
        InfluxDbSinkConnector connector = new InfluxDbSinkConnector();
        Map<String, String> props = config("tags.fields", "a");
        connector.start(props);
        List<Map<String, String>> tasks = connector.taskConfigs(3);
        assertEquals(3, tasks.size());
        for (Map<String, String> t : tasks) {
            assertEquals(props, t);
        }
        assertEquals(InfluxDbSinkTask.class, connector.taskClass());
        assertEquals(System.getProperty("project.version"), connector.version());
        assertEquals(connector.version(), new InfluxDbSinkTask().version());
        assertTrue(connector.alterOffsets(props, Map.of()));
        connector.stop();
        assertTrue(new ArrayList<>(InfluxDbSinkConfig.problems(props)).isEmpty());
    }

    @Test
    void eachWriteApiNeedsItsOwnSettingsAndRefusesTheOthers() {
        Map<String, String> v2 = config("influxdb.api", "v2", "influxdb.db", null);
        Map<String, List<String>> errors = errors(v2);
        assertError(errors, "influxdb.bucket", "Missing required configuration for influxdb.api=v2");
        assertError(errors, "influxdb.token", "Missing required configuration for influxdb.api=v2");
        assertError(errors, "influxdb.org", "Missing required configuration for influxdb.api=v2");
        assertEquals(3, errors.size(), errors.toString());
        errors = errors(config("influxdb.api", "v2", "influxdb.bucket", "events", "influxdb.token", "t0ken", "influxdb.org", "shop",
                "influxdb.username", "u", "influxdb.db.auto.create", "true"));
        assertError(errors, "influxdb.db", "is not used with influxdb.api=v2");
        assertError(errors, "influxdb.username", "is not used with influxdb.api=v2");
        assertError(errors, "influxdb.db.auto.create", "is not used with influxdb.api=v2");
        assertEquals(3, errors.size(), errors.toString());
        assertEquals(Map.of(), errors(config("influxdb.api", "v2", "influxdb.db", null, "influxdb.bucket", "shopstream/events_7d",
                "influxdb.token", "writer:pw", "influxdb.org", "ignored-by-1.8")));
        errors = errors(config("influxdb.api", "v3", "influxdb.db", null, "influxdb.bucket", "b", "influxdb.rp", "r"));
        assertError(errors, "influxdb.db", "Missing required configuration for influxdb.api=v3");
        assertError(errors, "influxdb.bucket", "is not used with influxdb.api=v3");
        assertError(errors, "influxdb.rp", "is not used with influxdb.api=v3");
        assertEquals(3, errors.size(), errors.toString());
        assertEquals(Map.of(), errors(config("influxdb.api", "v3")), "a server without authentication needs no token");
        errors = errors(config("influxdb.token", "t", "influxdb.org", "o"));
        assertError(errors, "influxdb.token", "is not used with influxdb.api=v1");
        assertError(errors, "influxdb.org", "is not used with influxdb.api=v1");
        assertError(errors(config("influxdb.api", "v4")), "influxdb.api", "must be one of v1, v2, v3");
    }
}
