package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;

/**
 * Keeps the README's configuration and metrics tables equal to what the code defines. The tables are generated from
 * the ConfigDef and from SinkMetrics; after changing either, regenerate them with
 * {@code mvn -B -s ../../compose/maven/settings.xml test -Dtest=ReadmeTablesTest -Dreadme.update=true}.
 */
class ReadmeTablesTest {
    static final String CONFIG_BEGIN = "<!-- config-table:begin (generated from InfluxDbSinkConfig by ReadmeTablesTest; do not edit) -->";
    static final String CONFIG_END = "<!-- config-table:end -->";
    static final String METRICS_BEGIN = "<!-- metrics-table:begin (generated from SinkMetrics by ReadmeTablesTest; do not edit) -->";
    static final String METRICS_END = "<!-- metrics-table:end -->";

    static String configTable(ConfigDef def) {
        StringBuilder sb = new StringBuilder();
        sb.append("| Key | Type | Default | Valid values | Importance | Description |\n");
        sb.append("|---|---|---|---|---|---|\n");
        String group = null;
        for (ConfigDef.ConfigKey key : def.configKeys().values()) {
            if (!key.group.equals(group)) {
                group = key.group;
                sb.append("| **").append(group).append("** | | | | | |\n");
            }
            sb.append("| `").append(key.name).append("` | ").append(key.type.name().toLowerCase()).append(" | ")
                    .append(defaultOf(key)).append(" | ").append(key.validator == null ? "" : cell(key.validator.toString()))
                    .append(" | ").append(key.importance.name().toLowerCase()).append(" | ").append(cell(key.documentation)).append(" |\n");
        }
        return sb.toString();
    }

    private static String defaultOf(ConfigDef.ConfigKey key) {
        if (!key.hasDefault()) {
            return "(required)";
        }
        if (key.defaultValue == null) {
            return "(none)";
        }
        if (key.type == ConfigDef.Type.PASSWORD) {
            return "\"\"";
        }
        String v = ConfigDef.convertToString(key.defaultValue, key.type);
        return v.isEmpty() ? "\"\"" : "`" + v + "`";
    }

    private static String cell(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }

    static String metricsTable() {
        StringBuilder sb = new StringBuilder();
        sb.append("| Metric (MBean attribute) | Description |\n");
        sb.append("|---|---|\n");
        for (String[] m : SinkMetrics.METRICS) {
            sb.append("| `").append(m[0]).append("` | ").append(cell(m[1])).append(" |\n");
        }
        return sb.toString();
    }

    static String replaceBlock(String readme, String begin, String end, String table) {
        int b = readme.indexOf(begin);
        int e = readme.indexOf(end);
        assertTrue(b >= 0 && e > b, "README.md lacks the markers " + begin + " ... " + end);
        return readme.substring(0, b + begin.length()) + "\n" + table + readme.substring(e);
    }

    @Test
    void readmeTablesMatchTheCode() throws IOException {
        Path readme = Path.of("README.md");
        String current = Files.readString(readme, StandardCharsets.UTF_8);
        String expected = replaceBlock(current, CONFIG_BEGIN, CONFIG_END, configTable(InfluxDbSinkConfig.configDef()));
        expected = replaceBlock(expected, METRICS_BEGIN, METRICS_END, metricsTable());
        if (Boolean.getBoolean("readme.update")) {
            Files.writeString(readme, expected, StandardCharsets.UTF_8);
            current = expected;
        }
        assertEquals(expected, current, "README.md tables are out of date: run mvn test -Dtest=ReadmeTablesTest -Dreadme.update=true");
    }

    @Test
    void everyKeyAndMetricIsInTheReadme() throws IOException {
        String readme = Files.readString(Path.of("README.md"), StandardCharsets.UTF_8);
        for (String key : InfluxDbSinkConfig.configDef().names()) {
            assertTrue(readme.contains("| `" + key + "` |"), key);
        }
        for (String metric : SinkMetrics.names()) {
            assertTrue(readme.contains("| `" + metric + "` |"), metric);
        }
        assertTrue(List.of(SinkMetrics.METRICS).size() > 20);
    }
}
