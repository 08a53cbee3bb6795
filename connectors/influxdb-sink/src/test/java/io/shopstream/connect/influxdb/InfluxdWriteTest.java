package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The writer against a real influxd (the binary of {@link LocalInfluxd}, started with max-series-per-database = 3):
 * what the unit tests take from FakeInflux, checked against the server itself. The v2 mode needs InfluxDB 1.8 or later
 * (-Dinfluxd.binary=...): with an older binary that test is skipped, saying so.
 */
@Tag("influxd")
class InfluxdWriteTest {
    private static final long NO_DEADLINE = Long.MAX_VALUE;
    private static LocalInfluxd influxd;

    @BeforeAll
    static void startInfluxd() throws Exception {
        influxd = LocalInfluxd.start(Map.of("[data] max-series-per-database", "3"));
    }

    @AfterAll
    static void stopInfluxd() throws Exception {
        if (influxd != null) {
            influxd.close();
        }
    }

    private static InfluxDbWriter writer(String... settings) {
        List<String> cfg = new ArrayList<>(Arrays.asList("influxdb.url", influxd.url(), "influxdb.db", null, "influxdb.gzip.enable", "true"));
        cfg.addAll(List.of(settings));
        return new InfluxDbWriter(parsed(cfg.toArray(new String[0])), System::currentTimeMillis, (status, latency, bytes, lines) -> { });
    }

    private static List<byte[]> lines(String... lines) {
        List<byte[]> out = new ArrayList<>();
        for (String line : lines) {
            out.add(line.getBytes(StandardCharsets.UTF_8));
        }
        return out;
    }

    @Test
    void v1PartialWriteIsBisectedAndTheSeriesLimitFailsNamingTheSetting() throws Exception {
        influxd.createDatabase("v1db");
        InfluxDbWriter v1 = writer("influxdb.db", "v1db");
        InfluxDbWriter.Outcome o = v1.write(lines("m,k=a f=1i 1", "m,k=a f=1.5 2", "m,k=b f=2i 3"), NO_DEADLINE);
        assertNull(o.failure());
        assertEquals(Set.of(1), o.rejected().keySet());
        assertTrue(o.rejected().get(1).startsWith("InfluxDB refused the point (HTTP 400): partial write: field type conflict: "),
                o.rejected().get(1));
        assertEquals(2, influxd.count("v1db", "m", "f"));
        // series a and b exist; c, d and e would make 5 of at most 3: the server refuses all three new series of the request
        o = v1.write(lines("m,k=c f=3i 4", "m,k=d f=4i 5", "m,k=e f=5i 6"), NO_DEADLINE);
        assertNotNull(o.failure(), "the series limit fails the write");
        assertFalse(o.failure().retriable());
        // 1.6.7: "max-series-per-database limit exceeded: (3) dropped=3"; 1.13.2 (observed 2026-12-06):
        // "max-series-per-database exceeded database=v1db limit=3 series=2 keys=3 dropped=3 for database: v1db for retention policy: autogen"
        assertTrue(o.failure().message().matches("(?s).*\\(HTTP 400: partial write: max-series-per-database (limit exceeded: \\(3\\)|exceeded "
                + "database=v1db limit=3 series=2 keys=3) dropped=3( for database: v1db for retention policy: autogen)?\\).*"),
                o.failure().message());
        assertTrue(o.failure().message().contains("server setting max-series-per-database"), o.failure().message());
        assertTrue(o.rejected().isEmpty(), "no point is to blame");
        v1.close();
    }

    @Test
    void v2ModeWritesThroughApiV2WriteOfInfluxDb18AndLater() throws Exception {
        assumeTrue(influxd.servesApiV2Write(), "InfluxDB " + influxd.version() + " does not serve /api/v2/write (1.8 and later do): run "
                + "with -D" + LocalInfluxd.BINARY_PROPERTY + "=<an influxd of 1.8 or later> to test influxdb.api=v2 against a real server");
        influxd.createDatabase("v2db");
        InfluxDbWriter v2 = writer("influxdb.api", "v2", "influxdb.bucket", "v2db/autogen", "influxdb.org", "ignored-by-1.8",
                "influxdb.token", "writer:unused");
        InfluxDbWriter.Outcome o = v2.write(lines("m,k=a f=1i 1", "m,k=a f=1.5 2", "m,k=b f=2i 3"), NO_DEADLINE);
        assertNull(o.failure());
        assertEquals(Set.of(1), o.rejected().keySet());
        assertTrue(o.rejected().get(1).contains("field type conflict"), o.rejected().get(1));
        assertEquals(2, influxd.count("v2db", "m", "f"));
        v2.close();
    }
}
