package io.shopstream.connect.influxdb;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.function.LongSupplier;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.connect.errors.ConnectException;
import org.apache.kafka.connect.errors.DataException;
import org.apache.kafka.connect.errors.RetriableException;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTask;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Buffers the points of the records it is given and writes them synchronously, in batches, from {@code put()}.
 * <ul>
 *   <li>A batch is written as soon as it is full (points or bytes) or its oldest point has lingered {@code linger.ms};
 *       otherwise {@code context.timeout()} makes the worker call {@code put()} again in time.</li>
 *   <li>Only {@code put()} writes, within a time budget of half the consumer's {@code max.poll.interval.ms} counted
 *       from its start (the worker polls right before each {@code put()}); {@code preCommit}, {@code close} and
 *       {@code stop} never write, so they return at once and nothing between two polls outlasts the budget. What is
 *       not written stays uncommitted and is read again by whoever owns the partition next.</li>
 *   <li>A retriable failure keeps the buffer, asks the worker (context.timeout) to come back after the backoff and
 *       throws {@link RetriableException}: the worker pauses the partitions and redelivers the same records, which
 *       the task recognises ({@link Redelivery}). Nothing sleeps inside {@code put()}. After {@code max.retries}
 *       consecutive failures (never with -1) the task fails with the last error.</li>
 *   <li>Records that cannot be mapped, and points InfluxDB refuses, go to the errant record reporter (DLQ) with the
 *       reason; without one, or when it refuses them (errors.tolerance=none), the task fails naming the record, whose
 *       offset is then never committed.</li>
 *   <li>{@code preCommit} commits, per original topic partition, only up to the first record not yet written or
 *       reported.</li>
 * </ul>
 */
public class InfluxDbSinkTask extends SinkTask {
    private static final Logger log = LoggerFactory.getLogger(InfluxDbSinkTask.class);
    private static final long SUMMARY_INTERVAL_MS = 60_000L;
    private static final int WARNINGS_PER_SUMMARY = 10;

    private final LongSupplier clock;

    private InfluxDbSinkConfig config;
    private RecordMapper mapper;
    private PointBuffer buffer;
    private InfluxDbWriter writer;
    private SinkMetrics metrics;
    private ErrantRecordReporter reporter;
    private final Redelivery redelivery = new Redelivery();
    private long putBudgetMs;
    private int effectiveMaxBytes;
    private int batchSize;
    private long lingerMs;

    private int consecutiveFailures;
    private long nextAttemptAt;
    private String lastError;
    private ConnectException fatal;

    private long lastSummaryAt;
    private int warningsSinceSummary;

    public InfluxDbSinkTask() {
        this(System::currentTimeMillis);
    }

    /** @param clock epoch milliseconds; injectable so that tests need no sleeps */
    InfluxDbSinkTask(LongSupplier clock) {
        this.clock = clock;
    }

    @Override
    public String version() {
        return Version.get();
    }

    @Override
    public void start(Map<String, String> props) {
        config = new InfluxDbSinkConfig(props);
        buffer = new PointBuffer();
        reporter = errantRecordReporter();
        metrics = SinkMetrics.register(pluginMetrics(), config.timeoutMs(), () -> buffer.size(), () -> buffer.bytes(),
                () -> consecutiveFailures);
        mapper = new RecordMapper(config, metrics);
        writer = new InfluxDbWriter(config, clock, metrics);
        PollInterval maxPoll = config.maxPollInterval();
        putBudgetMs = maxPoll.ms() / 2;
        effectiveMaxBytes = config.batchMaxBytes();
        batchSize = config.batchSize();
        lingerMs = config.lingerMs();
        consecutiveFailures = 0;
        fatal = null;
        redelivery.clear();
        lastSummaryAt = clock.getAsLong();
        log.info("InfluxDB sink task {} writing to {} (api {}, {}, gzip={} (level {}), batch.size={}, "
                        + "batch.max.bytes={}, linger.ms={}, max.retries={}, errant record reporter={}, put() budget {} ms = half of "
                        + "max.poll.interval.ms {} from {}, metrics {})",
                Version.get(), writer.writeUrl(), config.api().configName(), authentication(), config.gzip(),
                config.gzipLevel(), config.batchSize(), config.batchMaxBytes(), config.lingerMs(), config.maxRetries(), reporter != null,
                putBudgetMs, maxPoll.ms(), maxPoll.source(), metrics.registration());
    }

    /** @return how the task authenticates, for the start-up log line (never a secret) */
    private String authentication() {
        if (config.api() == WriteApi.V1) {
            return "user=" + (config.username().isEmpty() ? "(none)" : config.username());
        }
        return "token " + (config.token().value().isEmpty() ? "(none)" : "(set)");
    }

    private ErrantRecordReporter errantRecordReporter() {
        try {
            return context.errantRecordReporter();
        } catch (NoSuchMethodError | NoClassDefFoundError e) {
            log.warn("The Connect worker is older than 2.6 and has no errant record reporter: a record that cannot be written fails the task");
            return null;
        }
    }

    private PluginMetrics pluginMetrics() {
        try {
            return context.pluginMetrics();
        } catch (LinkageError e) {
            log.warn("The Connect worker is older than 4.1 and offers no plugin metrics (KIP-877): metrics are only logged");
            return null;
        }
    }

    @Override
    public void put(Collection<SinkRecord> records) {
        if (fatal != null) {
            throw fatal;
        }
        long start = clock.getAsLong(); // the worker polled right before: the budget counts from here
        try {
            boolean redelivered = !redelivery.isEmpty();
            PointBuffer.RecordRef ref = null;
            for (SinkRecord record : records) {
                ref = PointBuffer.RecordRef.of(record, ref);
                if (redelivered && redelivery.isRedelivered(ref)) {
                    continue; // taken before the RetriableException: buffered, written or reported already
                }
                take(ref, record, start);
            }
            writeReady(start);
            redelivery.clear();
        } catch (RetriableException e) {
            redelivery.expect(records);
            throw e;
        }
        scheduleNextCall();
        maybeLogSummary();
    }

    private void take(PointBuffer.RecordRef ref, SinkRecord record, long now) {
        if (record.value() == null) {
            if (config.failOnTombstone()) {
                buffer.hold(ref);
                fatal = new ConnectException("Record " + ref + " has a null value (tombstone) and " + InfluxDbSinkConfig.TOMBSTONES + "=fail");
                throw fatal;
            }
            metrics.tombstone();
            return;
        }
        List<Point> points;
        try {
            points = mapper.map(record);
        } catch (MappingException e) {
            report(ref, e);
            return;
        }
        for (Point point : points) {
            PointBuffer.AddResult added = buffer.add(ref, point, now);
            if (added.merged()) {
                metrics.merged(added.collision());
                if (added.collision()) {
                    log.warn("Two events collided in series '{}' at time {}: {} '{}' and '{}' (merged as InfluxDB would, the later field "
                                    + "values win); see event.time.disambiguate.field in the README", point.measurement() + point.tags(),
                            point.time(), config.disambiguateField(), added.earlierDisambiguation(), added.laterDisambiguation());
                }
            }
        }
    }

    /** Makes the worker's next poll return in time to write what is buffered (put() is called even with no records). */
    private void scheduleNextCall() {
        if (buffer.isEmpty()) {
            return;
        }
        long now = clock.getAsLong();
        if (buffer.ready(now, batchSize, effectiveMaxBytes, lingerMs)) {
            context.timeout(1L); // the put() time budget ran out with a batch ready
        } else {
            context.timeout(Math.max(1L, buffer.lingerRemaining(now, lingerMs)));
        }
    }

    /**
     * Writes batches while one is ready and the budget allows another request: none is started later than the
     * budget's end less one request timeout, so put() returns within {@code putBudgetMs} of {@code start}.
     *
     * @throws RetriableException after a retriable failure (or while backing off), the buffer kept
     * @throws ConnectException   on a fatal failure, or when max.retries is exhausted
     */
    private void writeReady(long start) {
        if (buffer.isEmpty()) {
            consecutiveFailures = 0;
            return;
        }
        if (consecutiveFailures > 0 && start < nextAttemptAt) {
            context.timeout(nextAttemptAt - start);
            throw new RetriableException("Waiting " + (nextAttemptAt - start) + " ms before attempt " + (consecutiveFailures + 1)
                    + " to write to " + writer.writeUrl() + "; last error: " + lastError);
        }
        long lastStart = start + Math.max(0L, putBudgetMs - config.timeoutMs()); // validation keeps it positive; one request at least
        while (buffer.ready(clock.getAsLong(), batchSize, effectiveMaxBytes, lingerMs)) {
            List<PointBuffer.Entry> batch = buffer.nextBatch(batchSize, effectiveMaxBytes);
            List<byte[]> lines = new ArrayList<>(batch.size());
            for (PointBuffer.Entry e : batch) {
                lines.add(e.lineBytes());
            }
            InfluxDbWriter.Outcome outcome = writer.write(lines, lastStart);
            boolean resolved = apply(batch, outcome, lastStart);
            if (outcome.failure() != null) {
                fail(outcome.failure());
            }
            consecutiveFailures = 0;
            if (outcome.budgetExhausted() || !resolved) {
                log.debug("put() time budget of {} ms used up; writing on at the next call", putBudgetMs);
                return;
            }
        }
    }

    /**
     * Applies a write's outcome: written entries leave the buffer; refused ones are reported first and leave it only
     * then (a report that fails the task leaves them pending, so their offsets are never committed). A refused entry
     * merged from several records is split into the records' own points, written again, and only the records whose
     * own points InfluxDB refuses are reported.
     *
     * @return false when splitting a refused merge ran out of budget or failed (the entry stays buffered)
     */
    private boolean apply(List<PointBuffer.Entry> batch, InfluxDbWriter.Outcome outcome, long lastStart) {
        BitSet written = outcome.written();
        if (!written.isEmpty()) {
            List<PointBuffer.Entry> done = new ArrayList<>(written.cardinality());
            int records = 0;
            for (int i = written.nextSetBit(0); i >= 0; i = written.nextSetBit(i + 1)) {
                done.add(batch.get(i));
                records += batch.get(i).size();
            }
            buffer.complete(done);
            metrics.batchWritten(done.size(), records);
        }
        metrics.partialWrites(outcome.partialWrites());
        adjustMaxBytes(outcome);
        boolean resolved = true;
        Map<PointBuffer.RecordRef, String> reasons = new LinkedHashMap<>(); // a record of several refused points: reported once
        List<PointBuffer.Entry> refused = new ArrayList<>();
        for (Map.Entry<Integer, String> rejected : outcome.rejected().entrySet()) {
            PointBuffer.Entry entry = batch.get(rejected.getKey());
            if (entry.size() > 1) {
                resolved &= split(entry, lastStart);
                continue;
            }
            reasons.putIfAbsent(entry.ref(0), rejected.getValue() + "; line: " + abbreviate(entry.line()));
            refused.add(entry);
        }
        reportAll(reasons);
        buffer.complete(refused);
        return resolved;
    }

    /** Writes the records' own points of a refused merge; reports the refused ones. @return false when unresolved */
    private boolean split(PointBuffer.Entry entry, long lastStart) {
        List<byte[]> lines = new ArrayList<>(entry.size());
        LineProtocol.LineBuffer encoded = new LineProtocol.LineBuffer();
        for (Point part : entry.parts()) {
            LineProtocol.encode(part, encoded);
            lines.add(encoded.copy());
        }
        log.debug("InfluxDB refused a point merged from {} records: writing each record's own point", lines.size());
        InfluxDbWriter.Outcome outcome = writer.write(lines, lastStart);
        metrics.partialWrites(outcome.partialWrites());
        if (outcome.failure() != null || outcome.budgetExhausted()) {
            if (outcome.failure() != null) {
                fail(outcome.failure());
            }
            return false; // the merged entry stays buffered and is tried again
        }
        Map<PointBuffer.RecordRef, String> reasons = new LinkedHashMap<>();
        for (Map.Entry<Integer, String> rejected : outcome.rejected().entrySet()) {
            String line = new String(lines.get(rejected.getKey()), StandardCharsets.UTF_8);
            reasons.putIfAbsent(entry.ref(rejected.getKey()), rejected.getValue() + "; line: " + abbreviate(line));
        }
        reportAll(reasons);
        buffer.take(entry);
        for (int i = 0; i < entry.size(); i++) {
            buffer.done(entry.ref(i));
        }
        int parts = outcome.written().cardinality();
        if (parts > 0) {
            metrics.batchWritten(parts, parts);
        }
        return true;
    }

    private void reportAll(Map<PointBuffer.RecordRef, String> reasons) {
        for (Map.Entry<PointBuffer.RecordRef, String> r : reasons.entrySet()) {
            report(r.getKey(), new DataException(r.getValue()));
        }
    }

    private void adjustMaxBytes(InfluxDbWriter.Outcome outcome) {
        if (outcome.tooLargeBytes() > 0) {
            int reduced = Math.max(1, Math.min(effectiveMaxBytes, outcome.tooLargeBytes() / 2));
            if (reduced < effectiveMaxBytes) {
                log.warn("InfluxDB refused a body of {} bytes as too large (HTTP 413): sending at most {} bytes per request from now on; "
                        + "lower {} (now {}) to match the server's max-body-size", outcome.tooLargeBytes(), reduced,
                        InfluxDbSinkConfig.BATCH_MAX_BYTES, config.batchMaxBytes());
                effectiveMaxBytes = reduced;
            }
        }
    }

    private void fail(InfluxDbWriter.Failure failure) {
        if (!failure.retriable()) {
            fatal = new ConnectException(failure.message());
            throw fatal;
        }
        consecutiveFailures++;
        lastError = failure.message();
        metrics.retry();
        int maxRetries = config.maxRetries();
        if (maxRetries >= 0 && consecutiveFailures > maxRetries) {
            fatal = new ConnectException("Giving up after " + consecutiveFailures + " consecutive failed attempts to write to "
                    + writer.writeUrl() + " (" + InfluxDbSinkConfig.MAX_RETRIES + "=" + maxRetries + "); last error: " + lastError);
            throw fatal;
        }
        long backoff = backoffMs(consecutiveFailures, failure.retryAfterMs());
        nextAttemptAt = clock.getAsLong() + backoff;
        context.timeout(Math.max(1L, backoff));
        log.warn("Write failed (attempt {} of {}), {} points kept, next attempt in {} ms: {}", consecutiveFailures,
                maxRetries < 0 ? "unlimited" : "at most " + (maxRetries + 1), buffer.size(), backoff, lastError);
        throw new RetriableException(lastError);
    }

    /** @return the delay before the next attempt: Retry-After if given, else retry.backoff.ms doubled per failure; capped */
    long backoffMs(int failures, Long retryAfterMs) {
        long max = config.retryBackoffMaxMs();
        if (retryAfterMs != null) {
            return Math.min(retryAfterMs, max);
        }
        long base = config.retryBackoffMs();
        int shift = Math.min(failures - 1, 30);
        long delay = base > (Long.MAX_VALUE >> shift) ? Long.MAX_VALUE : base << shift;
        return Math.min(delay, max);
    }

    /**
     * Hands the record to the errant record reporter and tracks the report until it is acknowledged. Without a
     * reporter, or when the reporter refuses it (errors.tolerance=none: "Tolerance exceeded"), the task fails and the
     * record's offset is held: never committed by this task.
     */
    private void report(PointBuffer.RecordRef ref, DataException reason) {
        if (reporter == null) {
            buffer.hold(ref);
            fatal = new ConnectException("Record " + ref + " cannot be written to InfluxDB: " + reason.getMessage()
                    + ". Set errors.tolerance=all with errors.deadletterqueue.topic.name (or errors.log.enable=true) to route such "
                    + "records to a dead letter queue and keep going", reason);
            throw fatal;
        }
        Future<Void> future;
        try {
            future = reporter.report(ref.record(), reason);
        } catch (RuntimeException e) {
            buffer.hold(ref);
            fatal = new ConnectException("Record " + ref + " cannot be written to InfluxDB (" + reason.getMessage()
                    + ") and the errant record reporter did not take it: " + e.getMessage(), e);
            throw fatal;
        }
        metrics.dlq();
        if (warningsSinceSummary++ < WARNINGS_PER_SUMMARY) {
            log.warn("Record {} sent to the errant record reporter: {}", ref, reason.getMessage());
        } else {
            log.debug("Record {} sent to the errant record reporter: {}", ref, reason.getMessage());
        }
        buffer.reported(ref, future);
    }

    /**
     * Returns, per original topic partition, the offset up to which every record is written or reported (and the
     * report acknowledged). Writes nothing: it runs between two polls, and at close within the worker's graceful
     * shutdown timeout. After a failure (the worker still commits while closing) it stops at the record the task
     * failed on.
     */
    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
        return buffer == null ? Map.of() : buffer.committable(currentOffsets);
    }

    @Override
    public void open(Collection<TopicPartition> partitions) {
        if (buffer != null) {
            buffer.forget(partitions);
        }
        redelivery.forget(partitions);
    }

    /** Drops what is buffered for revoked partitions (writes nothing): their records are redelivered from the committed offset. */
    @Override
    public void close(Collection<TopicPartition> partitions) {
        redelivery.forget(partitions);
        if (buffer == null) {
            return;
        }
        int before = buffer.size();
        buffer.forget(partitions);
        if (before != buffer.size()) {
            log.info("Partitions {} closed: dropped {} buffered points (they are redelivered from the last committed offset)", partitions,
                    before - buffer.size());
        }
        if (buffer.isEmpty()) {
            consecutiveFailures = 0;
        }
    }

    /** Writes nothing: what is buffered is not committed and is read again by the next owner of its partitions. */
    @Override
    public void stop() {
        if (metrics != null) {
            log.info("InfluxDB sink task stopping ({} points left unwritten, redelivered on restart): {}", buffer.size(), metrics.summary());
        }
        if (writer != null) {
            writer.close();
        }
    }

    private void maybeLogSummary() {
        long now = clock.getAsLong();
        if (now - lastSummaryAt >= SUMMARY_INTERVAL_MS) {
            lastSummaryAt = now;
            warningsSinceSummary = 0;
            log.info("InfluxDB sink: {}; buffered {} points", metrics.summary(), buffer.size());
        }
    }

    private static String abbreviate(String line) {
        return line.length() > 300 ? line.substring(0, 300) + "..." : line;
    }

    // ---- for tests

    SinkMetrics metrics() {
        return metrics;
    }

    PointBuffer buffer() {
        return buffer;
    }

    int consecutiveFailures() {
        return consecutiveFailures;
    }

    long putBudgetMs() {
        return putBudgetMs;
    }
}
