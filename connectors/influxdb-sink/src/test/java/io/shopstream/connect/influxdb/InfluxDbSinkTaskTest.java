package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.json;
import static io.shopstream.connect.influxdb.TestSupport.map;
import static io.shopstream.connect.influxdb.TestSupport.offsets;
import static io.shopstream.connect.influxdb.TestSupport.routed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.metrics.JmxReporter;
import org.apache.kafka.common.metrics.KafkaMetricsContext;
import org.apache.kafka.common.metrics.MetricConfig;
import org.apache.kafka.common.metrics.Metrics;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.common.metrics.internals.PluginMetricsImpl;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class InfluxDbSinkTaskTest {
    private static final long T0 = 1_700_000_000_000L;

    private FakeInflux influx;
    private final TestSupport.Clock clock = new TestSupport.Clock(T0);
    private TestSupport.Reporter reporter = new TestSupport.Reporter();
    private PluginMetrics pluginMetrics;
    private TestSupport.Context context;
    private InfluxDbSinkTask task;

    @BeforeEach
    void setUp() throws IOException {
        influx = new FakeInflux("metrics");
    }

    @AfterEach
    void tearDown() {
        if (task != null) {
            task.stop();
        }
        influx.close();
    }

    private InfluxDbSinkTask start(String... overrides) {
        List<String> cfg = new ArrayList<>(List.of("influxdb.url", influx.url(), "influxdb.db", "metrics",
                "influxdb.username", "writer", "influxdb.password", "s3cret", "measurement.name.format", "m", "tags.fields", "k"));
        cfg.addAll(List.of(overrides));
        Map<String, String> props = TestSupport.config(cfg.toArray(new String[0]));
        context = new TestSupport.Context(props, reporter, pluginMetrics);
        task = new InfluxDbSinkTask(clock::millis);
        task.initialize(context);
        task.start(props);
        return task;
    }

    /** Record at offset {@code offset} of partition {@code partition} of topic "t": one point m,k=<k> v=<v>. */
    private static SinkRecord rec(int partition, long offset, String k, Object v) {
        return json("t", partition, offset, map("k", k, "v", v), T0);
    }

    private List<Integer> requestSizes() {
        List<Integer> sizes = new ArrayList<>();
        for (FakeInflux.Request r : influx.writes()) {
            sizes.add(r.lines().size());
        }
        return sizes;
    }

    private static final String TS = " " + T0 * 1_000_000L;

    @Test
    void fullBatchesAreWrittenFromPutAndTheRestAfterLinger() {
        start("batch.size", "2", "linger.ms", "100");
        task.put(List.of(rec(0, 0, "a", 1L), rec(0, 1, "b", 1L), rec(0, 2, "c", 1L), rec(0, 3, "d", 1L), rec(0, 4, "e", 1L)));
        assertEquals(List.of(2, 2), requestSizes(), "two full batches written at once");
        assertEquals(100L, context.lastTimeout(), "the worker is asked to call put() again when the linger expires");
        clock.now += 60;
        task.put(List.of());
        assertEquals(2, influx.writes().size());
        assertEquals(40L, context.lastTimeout());
        clock.now += 40;
        task.put(List.of()); // the worker calls put() with no records after the poll timeout
        assertEquals(List.of(2, 2, 1), requestSizes());
        assertEquals(List.of("m,k=a v=1i" + TS, "m,k=b v=1i" + TS, "m,k=c v=1i" + TS, "m,k=d v=1i" + TS, "m,k=e v=1i" + TS), influx.stored());
        assertEquals(offsets("t", 0, 5L), task.preCommit(offsets("t", 0, 5L)));
        assertEquals(5, task.metrics().pointsWritten());
        assertEquals(3, task.metrics().batches());
    }

    @Test
    void batchesAreAlsoCutByBytes() {
        int line = ("m,k=a v=1i" + TS + "\n").length();
        start("batch.max.bytes", String.valueOf(Math.max(1_024, 2 * line)), "linger.ms", "0");
        List<SinkRecord> records = new ArrayList<>();
        for (int i = 0; i < 2 * (1_024 / line + 1) + 1; i++) {
            records.add(rec(0, i, "k" + (char) ('a' + i % 26) + i, 1L));
        }
        task.put(records);
        for (FakeInflux.Request r : influx.writes()) {
            assertTrue(r.body.length() <= Math.max(1_024, 2 * line), "body of " + r.body.length() + " bytes");
        }
        assertTrue(influx.writes().size() >= 2);
        assertEquals(records.size(), influx.stored().size());
    }

    @Test
    void status413SplitsAndLowersTheByteLimitForLaterBatches() {
        int line = ("m,k=a0 v=1i" + TS + "\n").length();
        influx.maxBodySize(3 * line);
        start("linger.ms", "60000", "influxdb.gzip.enable", "false", "batch.size", "8");
        List<SinkRecord> records = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            records.add(rec(0, i, "a" + (char) ('a' + i), 1L));
        }
        task.put(records);
        List<Integer> statuses = new ArrayList<>();
        for (FakeInflux.Request r : influx.writes()) {
            statuses.add(r.rawBody.length > 3 * line ? 413 : 204);
        }
        // first batch of 8: 413, halves of 4: 413, quarters of 2: 204; afterwards at most half the smallest refused body (2 lines)
        assertEquals(List.of(8, 4, 2, 2, 4, 2, 2), requestSizes().subList(0, 7));
        assertEquals(List.of(413, 413, 204, 204, 413, 204, 204), statuses.subList(0, 7));
        assertEquals(16, influx.stored().size());
        assertTrue(reporter.records.isEmpty());
        for (int size : requestSizes().subList(7, requestSizes().size())) {
            assertTrue(size <= 2, "later batches respect the lowered limit: " + requestSizes());
        }
    }

    @Test
    void retriableFailureKeepsTheBufferAndTheRedeliveredBatchIsWrittenOnce() {
        start("linger.ms", "0");
        influx.reply(503, "{\"error\":\"overloaded\"}");
        List<SinkRecord> batch = List.of(rec(0, 0, "a", 1L), rec(0, 1, "b", 1L), rec(1, 0, "c", 1L));
        RetriableException e = assertThrows(RetriableException.class, () -> task.put(batch));
        assertTrue(e.getMessage().contains("HTTP 503: overloaded"), e.getMessage());
        assertEquals(1_000L, context.lastTimeout(), "retry.backoff.ms before the next attempt");
        assertEquals(3, task.buffer().size());
        assertEquals(offsets("t", 0, 0L, "t", 1, 0L), task.preCommit(offsets("t", 0, 0L, "t", 1, 0L)), "nothing committable yet");
        // the worker redelivers the same batch; before the backoff has passed nothing is sent
        clock.now += 10;
        assertThrows(RetriableException.class, () -> task.put(batch));
        assertEquals(990L, context.lastTimeout());
        assertEquals(1, influx.writes().size());
        clock.now += 990;
        task.put(batch);
        assertEquals(List.of(3, 3), requestSizes(), "the redelivered records were not buffered twice");
        assertEquals(3, influx.stored().size());
        assertEquals(0, task.consecutiveFailures());
        assertEquals(offsets("t", 0, 2L, "t", 1, 1L), task.preCommit(offsets("t", 0, 2L, "t", 1, 1L)));
        assertEquals(1, task.metrics().retries());
    }

    @Test
    void backoffDoublesHonoursRetryAfterAndMaxRetriesFailsTheTask() {
        start("linger.ms", "0", "max.retries", "3", "retry.backoff.ms", "100", "retry.backoff.max.ms", "5000");
        influx.reply(500, "{\"error\":\"engine: cache full\"}").reply(502, "bad gateway").reply(429, "{}", "Retry-After", "2")
                .reply(503, "{\"error\":\"still down\"}");
        List<SinkRecord> batch = List.of(rec(0, 0, "a", 1L));
        assertThrows(RetriableException.class, () -> task.put(batch));
        assertEquals(100L, context.lastTimeout());
        clock.now += 100;
        assertThrows(RetriableException.class, () -> task.put(batch));
        assertEquals(200L, context.lastTimeout());
        clock.now += 200;
        assertThrows(RetriableException.class, () -> task.put(batch));
        assertEquals(2_000L, context.lastTimeout(), "Retry-After: 2");
        clock.now += 2_000;
        ConnectException fatal = assertThrows(ConnectException.class, () -> task.put(batch));
        assertTrue(!(fatal instanceof RetriableException));
        assertTrue(fatal.getMessage().contains("Giving up after 4 consecutive failed attempts to write to " + influx.url()
                + "/write?db=metrics&precision=n (max.retries=3); last error:") && fatal.getMessage().contains("HTTP 503: still down"),
                fatal.getMessage());
        assertSame(fatal, assertThrows(ConnectException.class, () -> task.put(List.of())), "the task stays failed");
        assertEquals(4, influx.writes().size());
    }

    @Test
    void badCredentialsFailTheTaskAtOnce() {
        influx.credentials("writer", "other");
        start("linger.ms", "0");
        ConnectException e = assertThrows(ConnectException.class, () -> task.put(List.of(rec(0, 0, "a", 1L))));
        assertTrue(!(e instanceof RetriableException) && e.getMessage().contains("influxdb.username"), e.getMessage());
    }

    @Test
    void partialWriteSendsExactlyTheRefusedRecordsToTheDlqAndWritesTheGoodOnes() {
        influx.fieldType("m", "v", 'i');
        start("linger.ms", "0");
        task.put(List.of(rec(0, 0, "a", 1L), rec(0, 1, "b", 2L), rec(0, 2, "c", 2.5), rec(0, 3, "d", 4L), rec(0, 4, "e", 0.5)));
        assertEquals(List.of(2L, 4L), reporter.offsets());
        assertTrue(reporter.reasons.get(0).getMessage().startsWith("InfluxDB refused the point (HTTP 400): partial write: field type conflict"),
                reporter.reasons.get(0).getMessage());
        assertTrue(reporter.reasons.get(0).getMessage().endsWith("line: m,k=c v=2.5" + TS));
        assertEquals(List.of("m,k=a v=1i" + TS, "m,k=b v=2i" + TS, "m,k=d v=4i" + TS), influx.stored());
        assertEquals(offsets("t", 0, 5L), task.preCommit(offsets("t", 0, 5L)));
        assertEquals(2, task.metrics().dlqRecords());
        assertTrue(task.metrics().partialWrites() >= 2);
        assertTrue(task.buffer().isEmpty());
    }

    @Test
    void dlqRecordsAreCommittedOnlyOnceTheReportIsAcknowledged() {
        reporter.hold = true;
        start("linger.ms", "0", "event.time.fieldname", "when");
        task.put(List.of(rec(0, 0, "a", 1L)));
        assertEquals(List.of(0L), reporter.offsets());
        assertTrue(reporter.reasons.get(0).getMessage().contains("event time field 'when' is missing"));
        assertEquals(offsets("t", 0, 0L), task.preCommit(offsets("t", 0, 1L)));
        reporter.futures.get(0).complete(null);
        assertEquals(offsets("t", 0, 1L), task.preCommit(offsets("t", 0, 1L)));
    }

    @Test
    void withoutAnErrantRecordReporterABadRecordFailsTheTaskNamingIt() {
        reporter = null;
        start("linger.ms", "0");
        ConnectException e = assertThrows(ConnectException.class, () -> task.put(List.of(json("t", 3, 17, map("k", "a"), T0))));
        assertTrue(e.getMessage().startsWith("Record t-3@17 cannot be written to InfluxDB: no field left")
                && e.getMessage().contains("errors.deadletterqueue.topic.name"), e.getMessage());
    }

    @Test
    void preCommitKeysOffsetsByOriginalTopicWritesNothingAndReturnsOnlyWrittenRecords() {
        start("linger.ms", "100");
        task.put(List.of(routed("renamed", "raw", 0, 41, map("k", "a", "v", 1L), T0), routed("renamed", "raw", 0, 42, map("k", "b", "v", 1L), T0)));
        assertEquals(0, influx.writes().size(), "lingering");
        clock.now += 1_000;
        assertEquals(offsets("raw", 0, 41L), task.preCommit(offsets("raw", 0, 43L)), "nothing written yet");
        assertEquals(0, influx.writes().size(), "preCommit never writes: it runs between two polls and at close");
        task.put(List.of());
        assertEquals(offsets("raw", 0, 43L), task.preCommit(offsets("raw", 0, 43L)));
        assertEquals(List.of("m,k=a v=1i" + TS, "m,k=b v=1i" + TS), influx.stored());
    }

    @Test
    void tombstonesAreSkippedByDefaultOrFailTheTask() {
        start("linger.ms", "0");
        task.put(List.of(json("t", 0, 0, null, T0), rec(0, 1, "a", 1L)));
        assertEquals(1, task.metrics().tombstonesSkipped());
        assertEquals(offsets("t", 0, 2L), task.preCommit(offsets("t", 0, 2L)));
        task.stop();
        start("tombstones.behavior", "fail");
        ConnectException e = assertThrows(ConnectException.class, () -> task.put(List.of(json("t", 0, 5, null, T0))));
        assertTrue(e.getMessage().contains("t-0@5") && e.getMessage().contains("tombstones.behavior=fail"), e.getMessage());
    }

    @Test
    void closeDropsTheBufferOfRevokedPartitionsOnly() {
        start("linger.ms", "60000");
        task.open(List.of(new TopicPartition("t", 0), new TopicPartition("t", 1)));
        task.put(List.of(rec(0, 0, "a", 1L), rec(1, 0, "b", 1L), rec(0, 1, "shared", 1L), rec(1, 1, "shared", 2.0)));
        task.close(List.of(new TopicPartition("t", 1)));
        assertEquals(2, task.buffer().size());
        assertEquals(List.of(), task.buffer().pending(new TopicPartition("t", 1)));
        assertEquals(0, influx.writes().size(), "close writes nothing");
        clock.now += 60_000;
        task.put(List.of());
        assertEquals(offsets("t", 0, 2L), task.preCommit(offsets("t", 0, 2L)));
        assertEquals(List.of("m,k=a v=1i" + TS, "m,k=shared v=1i" + TS), influx.stored(), "t-1's value of the shared point was dropped");
    }

    @Test
    void collisionsOfDistinctEventsAreCounted() {
        // with us event times written at ns there are 1000 slots: find two ids that share one
        String first = null;
        String second = null;
        Map<Long, String> seen = new LinkedHashMap<>();
        for (int i = 0; second == null; i++) {
            String id = "evt-" + i;
            String previous = seen.putIfAbsent(RecordMapper.disambiguationOffset(id, 1_000L), id);
            if (previous != null) {
                first = previous;
                second = id;
            }
        }
        start("linger.ms", "60000", "event.time.fieldname", "at", "event.time.unit", "us", "event.time.disambiguate.field", "id",
                "fields.exclude", "id");
        task.put(List.of(json("t", 0, 0, map("k", "a", "at", 5L, "id", first, "v", 1L), T0),
                json("t", 0, 1, map("k", "a", "at", 5L, "id", second, "v", 2L), T0),
                json("t", 0, 2, map("k", "a", "at", 5L, "id", second, "w", 3L), T0)));
        assertEquals(1, task.buffer().size());
        assertEquals(2, task.metrics().pointsMerged());
        assertEquals(1, task.metrics().collisions(), "only the merge of two distinct events is a collision");
    }

    @Test
    void metricsAreRegisteredAsPluginMetricsUnderTheWorkersJmxName() throws Exception {
        Metrics metrics = new Metrics(new MetricConfig(), List.of(new JmxReporter()), Time.SYSTEM, new KafkaMetricsContext("kafka.connect"));
        LinkedHashMap<String, String> tags = new LinkedHashMap<>();
        tags.put("connector", "influx-test"); // the tags ConnectMetrics gives a task's plugin metrics
        tags.put("task", "0");
        try (PluginMetricsImpl pm = new PluginMetricsImpl(metrics, tags)) {
            pluginMetrics = pm;
            start("linger.ms", "0");
            task.put(List.of(rec(0, 0, "a", 1L), rec(0, 1, "b", 1L), rec(0, 2, "b", 2L)));
            MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            ObjectName name = new ObjectName("kafka.connect:type=plugins,connector=influx-test,task=0");
            assertEquals(2.0, server.getAttribute(name, "points-written-total"));
            assertEquals(3.0, server.getAttribute(name, "records-written-total"));
            assertEquals(1.0, server.getAttribute(name, "points-merged-total"));
            assertEquals(1.0, server.getAttribute(name, "batches-written-total"));
            assertEquals(0.0, server.getAttribute(name, "buffered-points"));
            for (String metric : SinkMetrics.names()) {
                assertNotNull(server.getAttribute(name, metric), metric);
            }
            // a second task of the connector in the same worker: its own MBean, its own counts
            LinkedHashMap<String, String> tags1 = new LinkedHashMap<>();
            tags1.put("connector", "influx-test");
            tags1.put("task", "1");
            try (PluginMetricsImpl pm1 = new PluginMetricsImpl(metrics, tags1)) {
                SinkMetrics other = SinkMetrics.register(pm1, 1_000, () -> 0, () -> 0, () -> 0);
                other.batchWritten(5, 5);
                assertEquals(5.0, server.getAttribute(new ObjectName("kafka.connect:type=plugins,connector=influx-test,task=1"),
                        "points-written-total"));
                assertEquals(2.0, server.getAttribute(name, "points-written-total"), "task 0 unchanged");
            }
        } finally {
            metrics.close();
        }
    }

    // ---- issue 17

    /** The scenario: no DLQ, a type-conflicting record at offset 50 among 151: nothing committed past it. */
    @Test
    void withoutAReporterARefusedRecordIsNeverCommittedPast() {
        reporter = null;
        influx.fieldType("m", "v", 'f');
        start("linger.ms", "100");
        List<SinkRecord> first = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            first.add(rec(0, i, "k" + i, 1.5));
        }
        List<SinkRecord> second = new ArrayList<>();
        second.add(rec(0, 50, "bad", "a string"));
        for (int i = 51; i < 151; i++) {
            second.add(rec(0, i, "k" + i, 2.5));
        }
        task.put(first);
        task.put(second); // both lingering: the worker's offsets move on to 151
        clock.now += 100;
        ConnectException e = assertThrows(ConnectException.class, () -> task.put(List.of()));
        assertTrue(!(e instanceof RetriableException) && e.getMessage().startsWith("Record t-0@50 cannot be written to InfluxDB: InfluxDB refused"),
                e.getMessage());
        // the worker closes the partitions and commits what preCommit returns, even after put() failed
        assertEquals(offsets("t", 0, 50L), task.preCommit(offsets("t", 0, 151L)));
        assertEquals(150, influx.stored().size(), "the others are stored");
        assertSame(e, assertThrows(ConnectException.class, () -> task.put(List.of())), "the task stays failed");
        assertEquals(offsets("t", 0, 50L), task.preCommit(offsets("t", 0, 151L)));
    }

    /** errors.tolerance=none with errors.log.enable=true: a reporter exists but throws "Tolerance exceeded". */
    @Test
    void aReporterThatRefusesTheRecordFailsTheTaskAndHoldsItsOffset() {
        reporter = new TestSupport.Reporter() {
            @Override
            public java.util.concurrent.Future<Void> report(SinkRecord record, Throwable error) {
                throw new ConnectException("Tolerance exceeded in error handler", error);
            }
        };
        influx.fieldType("m", "v", 'i');
        start("linger.ms", "0");
        ConnectException e = assertThrows(ConnectException.class,
                () -> task.put(List.of(rec(0, 7, "a", 1L), rec(0, 8, "b", 2.5), rec(0, 9, "c", 3L))));
        assertTrue(e.getMessage().contains("t-0@8") && e.getMessage().contains("Tolerance exceeded"), e.getMessage());
        assertEquals(offsets("t", 0, 8L), task.preCommit(offsets("t", 0, 10L)));
        assertEquals(0L, task.metrics().dlqRecords(), "nothing reached the DLQ");
    }

    @Test
    void aMappingErrorWithoutAReporterIsHeldToo() {
        reporter = null;
        start("linger.ms", "0");
        task.put(List.of(rec(0, 0, "a", 1L)));
        assertThrows(ConnectException.class, () -> task.put(List.of(json("t", 0, 1, map("k", "x"), T0), rec(0, 2, "b", 1L))));
        assertEquals(offsets("t", 0, 1L), task.preCommit(offsets("t", 0, 3L)));
    }

    @Test
    void aRefusedMergeIsSplitAndOnlyTheConflictingRecordIsReported() {
        influx.fieldType("m", "v", 'i');
        start("linger.ms", "0");
        // offsets 0 and 1 are one point (same series and time): the merge takes offset 1's string value and is refused
        task.put(List.of(json("t", 0, 0, map("k", "a", "v", 1L, "w", 5L), T0), json("t", 0, 1, map("k", "a", "v", "text"), T0)));
        assertEquals(List.of(1L), reporter.offsets(), "only the record whose own point is refused");
        assertTrue(reporter.reasons.get(0).getMessage().contains("line: m,k=a v=\"text\"" + TS), reporter.reasons.get(0).getMessage());
        assertEquals(List.of("m,k=a v=1i,w=5i" + TS), influx.stored(), "the good record's point is stored");
        assertEquals(offsets("t", 0, 2L), task.preCommit(offsets("t", 0, 2L)));
        assertTrue(task.buffer().isEmpty());
    }

    @Test
    void recordsWhoseOffsetsGoBackwardsWithoutAReassignmentAreWritten() {
        start("linger.ms", "0");
        task.put(List.of(rec(0, 10, "a", 1L), rec(0, 11, "b", 1L)));
        // the topic is recreated (or its offsets reset) while the task keeps the partition: offsets start again
        task.put(List.of(rec(0, 0, "c", 1L), rec(0, 1, "d", 1L)));
        assertEquals(List.of("m,k=a v=1i" + TS, "m,k=b v=1i" + TS, "m,k=c v=1i" + TS, "m,k=d v=1i" + TS), influx.stored());
        assertEquals(offsets("t", 0, 2L), task.preCommit(offsets("t", 0, 2L)));
    }

    @Test
    void maxRetriesMinusOneRetriesUntilTheWriteSucceeds() {
        start("linger.ms", "0", "max.retries", "-1", "retry.backoff.ms", "1", "retry.backoff.max.ms", "1");
        for (int i = 0; i < 25; i++) {
            influx.reply(503, "{\"error\":\"down\"}");
        }
        List<SinkRecord> batch = List.of(rec(0, 0, "a", 1L));
        for (int i = 0; i < 25; i++) {
            assertThrows(RetriableException.class, () -> task.put(batch), "attempt " + (i + 1));
            clock.now += 1;
        }
        task.put(batch);
        assertEquals(List.of("m,k=a v=1i" + TS), influx.stored());
        assertEquals(25, task.metrics().retries());
        assertEquals(offsets("t", 0, 1L), task.preCommit(offsets("t", 0, 1L)));
    }

    /** Each request takes 30 s of the (test) clock: put() starts none that could end after half of max.poll.interval.ms. */
    @Test
    void putStaysWithinHalfOfMaxPollIntervalAndPreCommitWritesNothing() {
        influx.onWrite(() -> clock.now += 30_000);
        start("linger.ms", "0", "batch.size", "1", "influxdb.timeout.ms", "30000");
        assertEquals(150_000L, task.putBudgetMs(), "half of the consumer default 300000");
        List<SinkRecord> records = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            records.add(rec(0, i, "k" + i, 1L));
        }
        long start = clock.now;
        task.put(records);
        assertEquals(5, influx.writes().size(), "requests started at 0, 30, 60, 90 and 120 s");
        assertTrue(clock.now - start <= 150_000L, "put() took " + (clock.now - start) + " ms");
        assertEquals(1L, context.lastTimeout(), "the next put() comes at once");
        assertEquals(offsets("t", 0, 5L), task.preCommit(offsets("t", 0, 10L)));
        assertEquals(5, influx.writes().size(), "preCommit wrote nothing");
        task.put(List.of());
        assertEquals(10, influx.writes().size());
    }

    @Test
    void theBudgetFollowsTheConnectorsConsumerOverride() {
        start("consumer.override.max.poll.interval.ms", "60000", "influxdb.timeout.ms", "15000");
        assertEquals(30_000L, task.putBudgetMs());
    }

    @Test
    void aStuckPredecessorsMetricsDoNotStopANewInstanceAndItsCloseLeavesTheNewOnes() throws Exception {
        Metrics metrics = new Metrics(new MetricConfig(), List.of(new JmxReporter()), Time.SYSTEM, new KafkaMetricsContext("kafka.connect"));
        LinkedHashMap<String, String> tags = new LinkedHashMap<>();
        tags.put("connector", "influx-stuck");
        tags.put("task", "0");
        MBeanServer server = ManagementFactory.getPlatformMBeanServer();
        ObjectName plain = new ObjectName("kafka.connect:type=plugins,connector=influx-stuck,task=0");
        try {
            PluginMetricsImpl old = new PluginMetricsImpl(metrics, new LinkedHashMap<>(tags));
            SinkMetrics stuck = SinkMetrics.register(old, 1_000, () -> 0, () -> 0, () -> 0);
            stuck.batchWritten(3, 3);
            try (PluginMetricsImpl pm = new PluginMetricsImpl(metrics, new LinkedHashMap<>(tags))) {
                pluginMetrics = pm;
                start("linger.ms", "0"); // threw "A metric named ... already exists" before
                task.put(List.of(rec(0, 0, "a", 1L)));
                Set<ObjectName> names = server.queryNames(new ObjectName("kafka.connect:type=plugins,connector=influx-stuck,*"), null);
                assertEquals(2, names.size(), names.toString());
                ObjectName tagged = names.stream().filter(n -> n.getKeyProperty(SinkMetrics.INSTANCE_TAG) != null).findFirst().orElseThrow();
                assertEquals("0", tagged.getKeyProperty("task"));
                assertEquals(1.0, server.getAttribute(tagged, "points-written-total"));
                assertEquals(3.0, server.getAttribute(plain, "points-written-total"), "the predecessor's own");
                old.close(); // the predecessor finally stops: the worker closes its plugin metrics
                assertFalse(server.isRegistered(plain));
                assertEquals(1.0, server.getAttribute(tagged, "points-written-total"), "the new instance's metrics survive it");
                task.put(List.of(rec(0, 1, "b", 1L)));
                assertEquals(2.0, server.getAttribute(tagged, "points-written-total"));
            }
        } finally {
            metrics.close();
        }
    }

    @Test
    void theSeriesLimitFailsTheTaskAndSendsNoRecordToTheDlq() {
        influx.maxSeries(1);
        start("batch.size", "3", "linger.ms", "0");
        List<SinkRecord> batch = List.of(rec(0, 0, "a", 1L), rec(0, 1, "b", 1L), rec(0, 2, "c", 1L));
        ConnectException fatal = assertThrows(ConnectException.class, () -> task.put(batch));
        assertTrue(fatal.getMessage().contains("max-series-per-database limit exceeded: (1)"), fatal.getMessage());
        assertTrue(fatal.getMessage().contains("server setting max-series-per-database"), fatal.getMessage());
        assertTrue(reporter.records.isEmpty(), "the records are not to blame: none goes to the DLQ");
        assertEquals(offsets("t", 0, 0L), task.preCommit(offsets("t", 0, 3L)), "nothing is committed past the unwritten records");
    }
}
