package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class InfluxDbWriterTest {
    private FakeInflux influx;
    private final List<Integer> statuses = new ArrayList<>();

    @AfterEach
    void tearDown() {
        if (influx != null) {
            influx.close();
        }
    }

    private InfluxDbWriter writer(String... overrides) {
        List<String> cfg = new ArrayList<>(List.of("influxdb.url", influx.url(), "influxdb.db", "metrics",
                "influxdb.username", "writer", "influxdb.password", "s3cret"));
        cfg.addAll(List.of(overrides));
        return new InfluxDbWriter(parsed(cfg.toArray(new String[0])), System::currentTimeMillis,
                (status, latency, bytes, lines) -> statuses.add(status));
    }

    private static List<String> lines(String... lines) {
        return List.of(lines);
    }

    private static final long NO_DEADLINE = Long.MAX_VALUE;

    @Test
    void status204WritesEverythingGzippedWithBasicAuthAndPrecision() {
        influx = newInflux("metrics").retentionPolicy("metrics", "autogen");
        InfluxDbWriter.Outcome o = writer("influxdb.rp", "autogen", "influxdb.precision", "ms").write(lines("m f=1i 1", "m f=2i 2"), NO_DEADLINE);
        assertEquals(2, o.written().cardinality());
        assertNull(o.failure());
        FakeInflux.Request r = influx.writes().get(0);
        assertEquals("POST", r.method);
        assertEquals(Map.of("db", "metrics", "rp", "autogen", "precision", "ms"), r.query);
        assertEquals("gzip", r.header("Content-Encoding"));
        assertEquals("m f=1i 1\nm f=2i 2\n", r.body, "the server decodes the gzip body");
        assertArrayEquals(new byte[] {0x1f, (byte) 0x8b}, new byte[] {r.rawBody[0], r.rawBody[1]}, "gzip magic on the wire");
        assertEquals("Basic d3JpdGVyOnMzY3JldA==", r.header("Authorization"));
        assertFalse(r.query.toString().contains("s3cret"), "the password is never in the URL");
        assertEquals(List.of("m f=1i 1", "m f=2i 2"), influx.stored());
        assertEquals(List.of(204), statuses);
    }

    @Test
    void gzipLevelTradesCpuForSizeAndEveryLevelDecodesToTheSameBody() {
        influx = newInflux("metrics");
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 2_000; i++) {
            many.add("shop_events,campaign_id=cmp-" + (i % 12) + ",tag=view event_id=\"e-" + (i * 7919) + "\",units=" + (i % 5) + "i "
                    + (1_700_000_000_000_000_000L + i * 1_000_003L));
        }
        writer().write(many, NO_DEADLINE);
        writer("influxdb.gzip.level", "9").write(many, NO_DEADLINE);
        FakeInflux.Request fastest = influx.writes().get(0);
        FakeInflux.Request smallest = influx.writes().get(1);
        assertEquals(String.join("\n", many) + "\n", fastest.body);
        assertEquals(fastest.body, smallest.body);
        assertTrue(smallest.rawBody.length < fastest.rawBody.length, smallest.rawBody.length + " vs " + fastest.rawBody.length);
        assertTrue(fastest.rawBody.length * 3 < fastest.body.length(), "level 1 still compresses line protocol several times");
    }

    @Test
    void oneWriterReusesItsBuffersAcrossBodiesOfAnySize() {
        influx = newInflux("metrics");
        List<String> big = new ArrayList<>();
        for (int i = 0; i < 5_000; i++) {
            big.add("m,t=" + (i % 7) + " f=" + i + "i,s=\"" + "x".repeat(i % 50) + "\" " + i);
        }
        for (String gzip : List.of("true", "false")) {
            InfluxDbWriter w = writer("influxdb.gzip.enable", gzip);
            w.write(big, NO_DEADLINE);
            w.write(lines("m f=3i 3"), NO_DEADLINE);
            w.write(big.subList(0, 100), NO_DEADLINE);
            w.close();
        }
        List<FakeInflux.Request> writes = influx.writes();
        assertEquals(6, writes.size());
        for (int i : List.of(0, 3)) {
            assertEquals(String.join("\n", big) + "\n", writes.get(i).body);
            assertEquals("m f=3i 3\n", writes.get(i + 1).body, "a small body after a big one carries nothing of it");
            assertEquals(String.join("\n", big.subList(0, 100)) + "\n", writes.get(i + 2).body);
        }
        assertEquals("m f=3i 3\n", new String(writes.get(4).rawBody, StandardCharsets.UTF_8), "uncompressed: exactly the bytes");
    }

    @Test
    void gzipOffSendsPlainText() {
        influx = newInflux("metrics");
        writer("influxdb.gzip.enable", "false").write(lines("m f=1i 1"), NO_DEADLINE);
        FakeInflux.Request r = influx.writes().get(0);
        assertNull(r.header("Content-Encoding"));
        assertEquals("m f=1i 1\n", new String(r.rawBody, StandardCharsets.UTF_8));
        assertEquals(Map.of("db", "metrics", "precision", "n"), r.query);
    }

    @Test
    void partialWriteIsBisectedToExactlyTheRefusedPoints() {
        influx = newInflux("metrics").fieldType("m", "f", 'i');
        List<String> batch = lines("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=2 f=2.5 1", "m,k=3 f=3i 1", "m,k=4 f=4i 1", "m,k=5 f=5.5 1");
        InfluxDbWriter.Outcome o = writer().write(batch, NO_DEADLINE);
        assertEquals(Set.of(2, 5), o.rejected().keySet());
        assertTrue(o.rejected().get(2).startsWith("InfluxDB refused the point (HTTP 400): partial write: field type conflict: input field "
                + "\"f\" on measurement \"m\" is type float, already exists as type integer dropped=1"), o.rejected().get(2));
        assertEquals(4, o.written().cardinality());
        assertTrue(o.written().get(0) && o.written().get(1) && o.written().get(3) && o.written().get(4));
        assertNull(o.failure());
        // requests: all 6 (400) | 0-2 (204) | 3-5 (400) | 3 (204) | 4-5 (400) | 4 (204) | 5 (400)
        // mid = from + n/2: [0,6) -> [0,3) [3,6); [0,3) -> [0,1) [1,3); ...
        List<Integer> sizes = new ArrayList<>();
        for (FakeInflux.Request r : influx.writes()) {
            sizes.add(r.lines().size());
        }
        assertEquals(List.of(6, 3, 1, 2, 1, 1, 3, 1, 2, 1, 1), sizes);
        assertEquals(List.of(400, 400, 204, 400, 204, 400, 400, 204, 400, 204, 400), statuses);
        assertEquals(7, o.partialWrites());
        // InfluxDB holds each good point once, the refused ones not at all
        assertEquals(List.of("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=3 f=3i 1", "m,k=4 f=4i 1"), influx.stored());
    }

    @Test
    void status401And403AreFatalAndNameTheUserAndSettings() {
        influx = newInflux("metrics").credentials("someone", "else");
        InfluxDbWriter.Outcome o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("user 'writer'") && o.failure().message().contains("influxdb.username")
                && o.failure().message().contains("influxdb.password") && o.failure().message().contains("HTTP 401"), o.failure().message());
        assertFalse(o.failure().message().contains("s3cret"));
        influx.reply(403, "{\"error\":\"\\\"writer\\\" user is not authorized to write to database \\\"metrics\\\"\"}");
        o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("HTTP 403: \"writer\" user is not authorized to write to database \"metrics\""),
                o.failure().message());
    }

    @Test
    void status404WithoutAutoCreateIsFatalNamingDatabaseAndSetting() {
        influx = newInflux();
        InfluxDbWriter.Outcome o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("database 'metrics' does not exist")
                && o.failure().message().contains("influxdb.db.auto.create=true"), o.failure().message());
        assertEquals(1, influx.requests().size());
    }

    @Test
    void status404WithAutoCreateCreatesDatabaseAndRetentionPolicyThenWrites() {
        influx = newInflux();
        InfluxDbWriter.Outcome o = writer("influxdb.db.auto.create", "true", "influxdb.rp", "week", "influxdb.rp.duration", "7d")
                .write(lines("m f=1i 1"), NO_DEADLINE);
        assertNull(o.failure());
        assertEquals(1, o.written().cardinality());
        List<FakeInflux.Request> rs = influx.requests();
        assertEquals(List.of("/write", "/query", "/query", "/write"), List.of(rs.get(0).path, rs.get(1).path, rs.get(2).path, rs.get(3).path));
        assertEquals("CREATE DATABASE \"metrics\"", rs.get(1).query.get("q"));
        assertEquals("CREATE RETENTION POLICY \"week\" ON \"metrics\" DURATION 7d REPLICATION 1", rs.get(2).query.get("q"));
        assertEquals("Basic d3JpdGVyOnMzY3JldA==", rs.get(1).header("Authorization"));
        assertEquals(Set.of("metrics"), influx.databases());
        assertEquals(List.of("m f=1i 1"), influx.stored());
    }

    @Test
    void missingRetentionPolicyIsFatalNamingTheSettingOrCreatedWhenAllowed() {
        influx = newInflux("metrics");
        InfluxDbWriter.Outcome o = writer("influxdb.rp", "week").write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("retention policy 'week' (influxdb.rp) does not exist")
                && o.failure().message().contains("HTTP 500: retention policy not found: week"), o.failure().message());
        o = writer("influxdb.rp", "week", "influxdb.db.auto.create", "true", "influxdb.rp.duration", "INF").write(lines("m f=1i 1"), NO_DEADLINE);
        assertNull(o.failure());
        assertEquals(Set.of("metrics.week"), influx.retentionPolicies());
        assertEquals(List.of("m f=1i 1"), influx.stored());
    }

    @Test
    void status413SplitsTheBatchAndRefusesASinglePointTooLarge() {
        String big = "m,k=big s=\"" + "x".repeat(200) + "\" 1";
        influx = newInflux("metrics").maxBodySize(40);
        InfluxDbWriter.Outcome o = writer("influxdb.gzip.enable", "false")
                .write(lines("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=2 f=2i 1", big), NO_DEADLINE);
        assertEquals(3, o.written().cardinality());
        assertEquals(Set.of(3), o.rejected().keySet());
        assertTrue(o.rejected().get(3).contains("larger than InfluxDB's max-body-size (HTTP 413)"));
        assertEquals(List.of(413, 204, 413, 204, 413), statuses);
        assertTrue(o.tooLargeBytes() > 0 && o.tooLargeBytes() <= big.length() + 1);
        assertEquals(List.of("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=2 f=2i 1"), influx.stored());
    }

    @Test
    void status429And5xxAreRetriableWithRetryAfter() {
        influx = newInflux("metrics");
        influx.reply(429, "{\"error\":\"too many requests\"}", "Retry-After", "7");
        InfluxDbWriter.Outcome o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
        assertTrue(o.failure().retriable());
        assertEquals(7_000L, o.failure().retryAfterMs());
        assertEquals(0, o.written().cardinality());
        for (int status : new int[] {500, 502, 503}) {
            influx.reply(status, "{\"error\":\"timeout\"}");
            o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
            assertTrue(o.failure().retriable(), "HTTP " + status);
            assertTrue(o.failure().message().contains("HTTP " + status + ": timeout"), o.failure().message());
            assertNull(o.failure().retryAfterMs());
        }
        assertTrue(influx.stored().isEmpty());
    }

    @Test
    void timeoutIsRetriable() {
        influx = newInflux("metrics").hang();
        InfluxDbWriter.Outcome o = writer("influxdb.timeout.ms", "300").write(lines("m f=1i 1"), NO_DEADLINE);
        assertTrue(o.failure().retriable());
        assertTrue(o.failure().message().contains("timed out after 300 ms (influxdb.timeout.ms)"), o.failure().message());
        assertEquals(List.of(-1), statuses);
    }

    @Test
    void connectionRefusedIsRetriable() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        InfluxDbWriter w = new InfluxDbWriter(parsed("influxdb.url", "http://127.0.0.1:" + port), System::currentTimeMillis,
                (status, latency, bytes, lines) -> statuses.add(status));
        InfluxDbWriter.Outcome o = w.write(lines("m f=1i 1"), NO_DEADLINE);
        assertTrue(o.failure().retriable());
        assertTrue(o.failure().message().contains("connection refused"), o.failure().message());
    }

    @Test
    void unexpectedStatusIsFatal() {
        influx = newInflux("metrics");
        influx.reply(405, "method not allowed");
        InfluxDbWriter.Outcome o = writer().write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("HTTP 405: method not allowed"));
    }

    @Test
    void noRequestStartsAfterTheDeadline() {
        influx = newInflux("metrics");
        InfluxDbWriter.Outcome o = writer().write(lines("m f=1i 1"), 0L);
        assertTrue(o.budgetExhausted());
        assertTrue(influx.requests().isEmpty());
    }

    @Test
    void retryAfterAndErrorBodies() {
        assertEquals(120_000L, InfluxDbWriter.parseRetryAfter("120", 0));
        assertEquals(2_000L, InfluxDbWriter.parseRetryAfter("Thu, 01 Jan 1970 00:00:12 GMT", 10_000L));
        assertNull(InfluxDbWriter.parseRetryAfter("soon", 0));
        assertEquals("partial write: unable to parse 'm f= 1': missing field value dropped=0",
                InfluxDbWriter.errorMessage("{\"error\":\"partial write: unable to parse 'm f= 1': missing field value dropped=0\"}"));
        assertEquals("a \"q\" \\ é", InfluxDbWriter.errorMessage("{\"error\":\"a \\\"q\\\" \\\\ \\u00e9\"}"));
        assertNull(InfluxDbWriter.errorMessage("<html>bad gateway</html>"));
        assertEquals("\"we\\\"ird db\"", InfluxDbWriter.identifier("we\"ird db"));
    }

    private static FakeInflux newInflux(String... dbs) {
        try {
            return new FakeInflux(dbs);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
