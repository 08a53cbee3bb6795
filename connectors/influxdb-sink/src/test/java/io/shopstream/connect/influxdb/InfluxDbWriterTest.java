package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
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

    private static List<byte[]> lines(String... lines) {
        return lines(List.of(lines));
    }

    private static List<byte[]> lines(List<String> lines) {
        List<byte[]> utf8 = new ArrayList<>();
        for (String line : lines) {
            utf8.add(line.getBytes(StandardCharsets.UTF_8));
        }
        return utf8;
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
        writer().write(lines(many), NO_DEADLINE);
        writer("influxdb.gzip.level", "9").write(lines(many), NO_DEADLINE);
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
            w.write(lines(big), NO_DEADLINE);
            w.write(lines("m f=3i 3"), NO_DEADLINE);
            w.write(lines(big.subList(0, 100)), NO_DEADLINE);
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
        List<byte[]> batch = lines("m,k=0 f=0i 1", "m,k=1 f=1i 1", "m,k=2 f=2.5 1", "m,k=3 f=3i 1", "m,k=4 f=4i 1", "m,k=5 f=5.5 1");
        InfluxDbWriter.Outcome o = writer().write(batch, NO_DEADLINE);
        assertEquals(Set.of(2, 5), o.rejected().keySet());
        assertTrue(o.rejected().get(2).startsWith("InfluxDB refused the point (HTTP 400): partial write: field type conflict: input field "
                + "\"f\" on measurement \"m\" is type float, already exists as type integer dropped=1"), o.rejected().get(2));
        assertEquals(4, o.written().cardinality());
        assertTrue(o.written().get(0) && o.written().get(1) && o.written().get(3) && o.written().get(4));
        assertNull(o.failure());
        // mid = from + n/2: [0,6) -> [0,3) [3,6); [0,3) -> [0,1) [1,3); ... A half is not sent when the dropped= count of
        // its parent's answer, less what the other half held, proves all its lines refused: [2,3) and [5,6) here
        assertEquals(List.of(6, 3, 1, 2, 1, 3, 1, 2, 1), sizes());
        assertEquals(List.of(400, 400, 204, 400, 204, 400, 204, 400, 204), statuses);
        assertEquals(5, o.partialWrites());
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

    private List<Integer> sizes() {
        List<Integer> sizes = new ArrayList<>();
        for (FakeInflux.Request r : influx.writes()) {
            sizes.add(r.lines().size());
        }
        return sizes;
    }

    @Test
    void aBatchInfluxRefusesWhollyTakesOneRequest() {
        influx = newInflux("metrics").retentionCutoff(1_000);
        List<String> old = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            old.add("m,k=" + i + " f=1i " + i);
        }
        InfluxDbWriter.Outcome o = writer().write(lines(old), NO_DEADLINE);
        assertEquals(List.of(64), sizes(), "not 2n-1 = 127 requests");
        assertEquals(64, o.rejected().size());
        assertEquals("InfluxDB refused the point (HTTP 400): partial write: points beyond retention policy dropped=64", o.rejected().get(63));
        assertTrue(o.written().isEmpty());
        assertNull(o.failure());
    }

    @Test
    void aBatchInflux113RefusesWhollyTakesOneRequestToo() {
        // InfluxDB 1.13 names the database and retention policy after the count (1.6.7 ended with it)
        influx = newInflux("metrics").retentionCutoff(1_000).partialWriteSuffix(" for database: metrics for retention policy: autogen");
        List<String> old = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            old.add("m,k=" + i + " f=1i " + i);
        }
        InfluxDbWriter.Outcome o = writer().write(lines(old), NO_DEADLINE);
        assertEquals(List.of(64), sizes(), "the count is read from 1.13's answer: not 2n-1 = 127 requests");
        assertEquals("InfluxDB refused the point (HTTP 400): partial write: points beyond retention policy dropped=64 for database: "
                + "metrics for retention policy: autogen", o.rejected().get(63));
    }

    @Test
    void theDroppedCountSparesTheHalvesItAccountsFor() {
        influx = newInflux("metrics").retentionCutoff(1_000);
        InfluxDbWriter.Outcome o = writer().write(lines("m,k=0 f=1i 1", "m,k=1 f=1i 2", "m,k=2 f=1i 5000", "m,k=3 f=1i 5001"), NO_DEADLINE);
        assertEquals(List.of(4, 2, 2), sizes(), "[0,2) is refused whole in one answer; [2,4) must be sent: 204");
        assertEquals(Set.of(0, 1), o.rejected().keySet());
        assertEquals(2, o.written().cardinality());
        assertEquals(List.of("m,k=2 f=1i 5000", "m,k=3 f=1i 5001"), influx.stored());
        assertEquals(3, InfluxDbWriter.droppedCount("partial write: field type conflict: input field \"f\" ... dropped=3"));
        assertEquals(0, InfluxDbWriter.droppedCount("partial write: unable to parse 'm f= 1': missing field value dropped=0"));
        assertEquals(2, InfluxDbWriter.droppedCount("partial write: field type conflict: input field \"f\" ... dropped=2 for database: "
                + "connect_it for retention policy: autogen"));
        assertEquals(5, InfluxDbWriter.droppedCount("partial write: points beyond retention policy dropped=5 for retention policy: r"));
        assertEquals(-1, InfluxDbWriter.droppedCount("unable to parse 'm7 f= 1': missing field value"));
        assertEquals(-1, InfluxDbWriter.droppedCount(null));
    }

    /** A raw HTTP/1.1 server on loopback answering every connection with {@code answer}. */
    private static final class RawServer implements AutoCloseable {
        interface Answer {
            void write(OutputStream out) throws IOException, InterruptedException;
        }

        final ServerSocket socket = new ServerSocket(0, 5, InetAddress.getLoopbackAddress());
        final AtomicLong bytesWritten = new AtomicLong();
        final Thread thread;

        RawServer(Answer answer) throws IOException {
            thread = new Thread(() -> {
                while (!socket.isClosed()) {
                    try (Socket s = socket.accept()) {
                        InputStream in = s.getInputStream();
                        byte[] buf = new byte[8192];
                        StringBuilder head = new StringBuilder();
                        while (!head.toString().contains("\r\n\r\n")) {
                            int n = in.read(buf);
                            if (n < 0) {
                                break;
                            }
                            head.append(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                        }
                        OutputStream out = new CountingOutputStream(s.getOutputStream(), bytesWritten);
                        answer.write(out);
                    } catch (IOException | InterruptedException e) {
                        // client went away, or the server is closing
                    }
                }
            }, "raw-http-server");
            thread.setDaemon(true);
            thread.start();
        }

        String url() {
            return "http://127.0.0.1:" + socket.getLocalPort();
        }

        @Override
        public void close() throws IOException {
            socket.close();
            thread.interrupt();
        }
    }

    private static final class CountingOutputStream extends java.io.FilterOutputStream {
        private final AtomicLong count;

        CountingOutputStream(OutputStream out, AtomicLong count) {
            super(out);
            this.count = count;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            out.flush();
            count.addAndGet(len);
        }
    }

    private InfluxDbWriter rawWriter(RawServer server, String timeoutMs) {
        return new InfluxDbWriter(parsed("influxdb.url", server.url(), "influxdb.timeout.ms", timeoutMs), System::currentTimeMillis,
                (status, latency, bytes, lines) -> statuses.add(status));
    }

    @Test
    void anEndlessAnswerIsReadOnlyUpToItsBound() throws IOException {
        byte[] chunk = ("2000\r\n" + "x".repeat(0x2000) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        try (RawServer server = new RawServer(out -> {
            out.write("HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            for (int i = 0; i < 100_000; i++) { // 800 MB unless the client stops reading
                out.write(chunk);
            }
        })) {
            InfluxDbWriter.Outcome o = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> rawWriter(server, "10000").write(lines("m f=1i 1"), NO_DEADLINE));
            assertTrue(o.failure().retriable());
            assertTrue(o.failure().message().contains("answered HTTP 500: xxx"), o.failure().message());
            assertTrue(o.failure().message().length() < 1_000, "the message shows only the start of the body");
            // of 800 MB, the client read 64 KiB; what else left the server sits in the loopback socket buffers
            assertTrue(server.bytesWritten.get() < 32L << 20, "the client stopped reading: " + server.bytesWritten.get() + " bytes");
        }
    }

    @Test
    void anAnswerWhoseBodyNeverEndsTimesOutLikeNoAnswer() throws IOException {
        try (RawServer server = new RawServer(out -> {
            out.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 100000\r\n\r\n{\"error\":".getBytes(StandardCharsets.US_ASCII));
            Thread.sleep(30_000); // the rest never comes
        })) {
            long start = System.nanoTime();
            InfluxDbWriter.Outcome o = assertTimeoutPreemptively(Duration.ofSeconds(20),
                    () -> rawWriter(server, "500").write(lines("m f=1i 1"), NO_DEADLINE));
            assertTrue(o.failure().retriable());
            assertTrue(o.failure().message().contains("timed out after 500 ms"), o.failure().message());
            assertTrue(System.nanoTime() - start < 10_000_000_000L);
            assertEquals(List.of(-1), statuses);
        }
    }

    private static FakeInflux newInflux(String... dbs) {
        try {
            return new FakeInflux(dbs);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
