package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** influxdb.api=v2 and v3 against FakeInflux (answers as InfluxDB 2.x's and 3.x's sources and docs give them), and the series limit. */
class WriteApiTest {
    private static final long NO_DEADLINE = Long.MAX_VALUE;

    private FakeInflux influx;
    private final List<Integer> statuses = new ArrayList<>();

    @AfterEach
    void tearDown() {
        if (influx != null) {
            influx.close();
        }
    }

    private InfluxDbWriter writer(String... settings) {
        List<String> cfg = new ArrayList<>(Arrays.asList("influxdb.url", influx.url(), "influxdb.db", null));
        cfg.addAll(List.of(settings));
        return new InfluxDbWriter(parsed(cfg.toArray(new String[0])), System::currentTimeMillis,
                (status, latency, bytes, lines) -> statuses.add(status));
    }

    private InfluxDbWriter v2(String... more) {
        List<String> cfg = new ArrayList<>(List.of("influxdb.api", "v2", "influxdb.org", "shop", "influxdb.bucket", "metrics",
                "influxdb.token", "t0ken"));
        cfg.addAll(List.of(more));
        return writer(cfg.toArray(new String[0]));
    }

    private InfluxDbWriter v3(String... more) {
        List<String> cfg = new ArrayList<>(List.of("influxdb.api", "v3", "influxdb.db", "metrics", "influxdb.token", "t0ken"));
        cfg.addAll(List.of(more));
        return writer(cfg.toArray(new String[0]));
    }

    private static List<byte[]> lines(String... lines) {
        List<byte[]> out = new ArrayList<>();
        for (String line : lines) {
            out.add(line.getBytes(StandardCharsets.UTF_8));
        }
        return out;
    }

    private FakeInflux newInflux(String... dbs) throws IOException {
        influx = new FakeInflux(dbs).token("t0ken");
        return influx;
    }

    @Test
    void v2WritesToApiV2WriteWithOrgBucketPrecisionAndToken() throws IOException {
        newInflux("metrics");
        InfluxDbWriter.Outcome o = v2("influxdb.precision", "ms").write(lines("m f=1i 1", "m f=2i 2"), NO_DEADLINE);
        assertEquals(2, o.written().cardinality());
        FakeInflux.Request r = influx.writes().get(0);
        assertEquals("/api/v2/write", r.path);
        assertEquals(Map.of("org", "shop", "bucket", "metrics", "precision", "ms"), r.query);
        assertEquals("Token t0ken", r.header("Authorization"));
        assertEquals("gzip", r.header("Content-Encoding"));
        assertEquals(List.of("m f=1i 1", "m f=2i 2"), influx.stored());
    }

    @Test
    void v2PartialWrite422IsBisectedToExactlyTheRefusedPoints() throws IOException {
        newInflux("metrics").fieldType("m", "f", 'i');
        InfluxDbWriter.Outcome o = v2().write(lines("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=2 f=2.5 1", "m,k=3 f=3i 1"), NO_DEADLINE);
        assertEquals(Set.of(2), o.rejected().keySet());
        assertEquals("InfluxDB refused the point (HTTP 422): failure writing points to database: partial write: field type conflict: "
                + "input field \"f\" on measurement \"m\" is type float, already exists as type integer dropped=1", o.rejected().get(2));
        assertEquals(3, o.written().cardinality());
        assertNull(o.failure());
        // [0,4) 422 dropped=1 -> [0,2) 204 -> [2,4) 422 dropped=1 -> [2,3) 422 (one line: refused) -> [3,4) 204
        assertEquals(List.of(422, 204, 422, 422, 204), statuses);
        assertEquals(3, o.partialWrites());
        assertEquals(List.of("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=3 f=3i 1"), influx.stored());
    }

    @Test
    void v2UnparseableLineRejectsTheRequestWhollyAndBisectionStoresTheRest() throws IOException {
        newInflux("metrics");
        InfluxDbWriter.Outcome o = v2().write(lines("m f=1i 1", "m f=2i 2", "broken", "m f=4i 4"), NO_DEADLINE);
        assertEquals(Set.of(2), o.rejected().keySet());
        assertEquals("InfluxDB refused the point (HTTP 400): unable to parse 'broken': bad line", o.rejected().get(2));
        assertEquals(List.of("m f=1i 1", "m f=2i 2", "m f=4i 4"), influx.stored());
    }

    @Test
    void v2TokenAndBucketProblemsFailTheTaskNamingTheSetting() throws IOException {
        newInflux("metrics").token("other");
        InfluxDbWriter.Outcome o = v2().write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertEquals("InfluxDB at " + influx.url() + " refused the token (influxdb.token) (HTTP 401: unauthorized access); check influxdb.token",
                o.failure().message());
        influx.token("t0ken");
        o = v2("influxdb.bucket", "nope").write(lines("m f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().startsWith("bucket 'nope' of organization 'shop' not found at " + influx.url()
                + " (HTTP 404: bucket \"nope\" not found); create it or fix influxdb.bucket/influxdb.org"), o.failure().message());
        assertFalse(o.failure().message().contains("t0ken"));
    }

    @Test
    void v3WritesToWriteLpAndTakesTheListedRefusalsWithoutBisecting() throws IOException {
        newInflux().fieldType("m", "f", 'i');
        InfluxDbWriter.Outcome o = v3().write(lines("m,k=0 f=0i 1", "m,k=1 f=1.5 1", "m,k=2 f=2i 1", "m,k=3 f=\"s\" 1"), NO_DEADLINE);
        FakeInflux.Request r = influx.writes().get(0);
        assertEquals("/api/v3/write_lp", r.path);
        assertEquals(Map.of("db", "metrics", "precision", "nanosecond", "accept_partial", "true"), r.query);
        assertEquals("Bearer t0ken", r.header("Authorization"));
        assertEquals(List.of(400), statuses, "one request: the answer names the refused lines");
        assertEquals(Set.of(1, 3), o.rejected().keySet());
        assertEquals("InfluxDB refused the point (HTTP 400): field type conflict: input field 'f' on measurement 'm' is type float, "
                + "already exists as type integer", o.rejected().get(1));
        assertEquals(Set.of(0, 2), bits(o));
        assertEquals(List.of("m,k=0 f=0i 1", "m,k=2 f=2i 1"), influx.stored());
    }

    @Test
    void v3AnswerListsAtMost100RefusalsTheLinesAfterTheLastListedAreSentAgain() throws IOException {
        newInflux().fieldType("m", "f", 'i');
        List<String> batch = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            batch.add("m,k=" + i + " f=" + (i % 2 == 0 ? i + "i" : i + ".5") + " 1"); // every odd line conflicts: 150 of them
        }
        InfluxDbWriter.Outcome o = v3().write(lines(batch.toArray(new String[0])), NO_DEADLINE);
        assertEquals(150, o.rejected().size());
        assertEquals(150, o.written().cardinality());
        for (int i = 0; i < 300; i++) {
            assertEquals(i % 2 == 1, o.rejected().containsKey(i), "line " + i);
        }
        // 100 listed (up to line index 199); [200, 300) sent again: 50 more listed
        assertEquals(List.of(400, 400), statuses);
        assertEquals(List.of(300, 100), sizes());
        assertEquals(150, influx.stored().size());
    }

    @Test
    void v3LinesWithNewlinesInStringsAreBisectedInsteadOfTrustingLineNumbers() throws IOException {
        newInflux().fieldType("m", "f", 'i');
        InfluxDbWriter.Outcome o = v3().write(lines("m,k=0 s=\"a\nb\",f=0i 1", "m,k=1 f=1.5 1", "m,k=2 f=2i 1"), NO_DEADLINE);
        assertEquals(Set.of(1), o.rejected().keySet());
        assertEquals(Set.of(0, 2), bits(o));
        assertTrue(statuses.size() > 1, "bisected: " + statuses);
    }

    @Test
    void theSeriesLimitIsATaskFailureNamingTheServerSettingNotAPointError() throws IOException {
        newInflux("metrics").credentials(null, null).maxSeries(2);
        InfluxDbWriter.Outcome o = writer("influxdb.db", "metrics").write(lines("m,k=0 f=1i 1", "m,k=1 f=1i 1", "m,k=2 f=1i 1"), NO_DEADLINE);
        assertFalse(o.failure().retriable());
        assertTrue(o.failure().message().contains("(HTTP 400: partial write: max-series-per-database limit exceeded: (2) dropped=1)"),
                o.failure().message());
        assertTrue(o.failure().message().contains("server setting max-series-per-database"), o.failure().message());
        assertTrue(o.rejected().isEmpty(), "no point is to blame");
        assertEquals(List.of(400), statuses, "no bisection");
        statuses.clear();
        o = v2().write(lines("m,k=3 f=1i 1"), NO_DEADLINE);
        assertTrue(o.failure().message().contains("(HTTP 422: failure writing points to database: partial write: "
                + "max-series-per-database limit exceeded: (2) dropped=1)"), o.failure().message());
        assertTrue(o.rejected().isEmpty());
    }

    @Test
    void errorMessagesOfEachApiAreRead() {
        assertEquals("failure writing points to database: partial write: x dropped=2",
                InfluxDbWriter.errorMessage("{\"code\":\"unprocessable entity\",\"message\":\"failure writing points to database: partial write: x dropped=2\"}"));
        assertEquals("partial write of line protocol occurred", InfluxDbWriter.errorMessage(
                "{\"error\":\"partial write of line protocol occurred\",\"data\":[{\"original_line\":\"m f=1\",\"line_number\":2,\"error_message\":\"e\"}]}"));
        assertEquals("database not found: x", InfluxDbWriter.errorMessage("{\"results\":[{\"statement_id\":0,\"error\":\"database not found: x\"}]}"));
        assertEquals(List.of(new V3Refusal(2, "e")),
                V3Refusal.parse("{\"error\":\"partial write of line protocol occurred\",\"data\":[{\"original_line\":\"m f=1\",\"line_number\":2,\"error_message\":\"e\"}]}"));
        assertNull(V3Refusal.parse("{\"error\":\"parsing failed for write_lp endpoint\",\"data\":{\"line_number\":2}}"));
        assertEquals(350, InfluxDbWriter.droppedCount("partial write: dropped 350 points outside retention policy of duration 72h0m0s - oldest "
                + "point m at 2025-08-26T03:26:38Z dropped because it violates a Retention Policy Lower Bound at 2025-09-02T09:04:10Z dropped=350 "
                + "for database: 0f00 for retention policy: autogen"));
    }

    private static Set<Integer> bits(InfluxDbWriter.Outcome o) {
        Set<Integer> set = new TreeSet<>();
        o.written().stream().forEach(set::add);
        return set;
    }

    private List<Integer> sizes() {
        List<Integer> sizes = new ArrayList<>();
        for (FakeInflux.Request r : influx.writes()) {
            sizes.add(r.lines().size());
        }
        return sizes;
    }
}
