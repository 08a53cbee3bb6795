package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collection;
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
 *   <li>A retriable failure keeps the buffer, asks the worker (context.timeout) to come back after the backoff and
 *       throws {@link RetriableException}: the worker pauses the partitions and redelivers the same records, which
 *       the buffer recognises as already seen. Nothing sleeps inside {@code put()}. After {@code max.retries}
 *       consecutive failures the task fails with the last error.</li>
 *   <li>Records that cannot be mapped, and points InfluxDB refuses, go to the errant record reporter (DLQ) with the
 *       reason; without one the task fails naming the record.</li>
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
        metrics = new SinkMetrics(pluginMetrics(), config.timeoutMs(), () -> buffer.size(), () -> buffer.bytes(),
                () -> consecutiveFailures);
        mapper = new RecordMapper(config, metrics);
        writer = new InfluxDbWriter(config, clock, metrics);
        putBudgetMs = config.maxPollIntervalMs() / 2;
        effectiveMaxBytes = config.batchMaxBytes();
        batchSize = config.batchSize();
        lingerMs = config.lingerMs();
        consecutiveFailures = 0;
        fatal = null;
        lastSummaryAt = clock.getAsLong();
        log.info("InfluxDB sink task {} writing to url={} db={} rp={} precision={} (user={}, gzip={} (level {}), batch.size={}, "
                        + "batch.max.bytes={}, linger.ms={}, max.retries={}, errant record reporter={})",
                Version.get(), config.url(), config.db(), config.rp().isEmpty() ? "(default)" : config.rp(),
                config.precision().configName(), config.username().isEmpty() ? "(none)" : config.username(), config.gzip(),
                config.gzipLevel(), config.batchSize(), config.batchMaxBytes(), config.lingerMs(), config.maxRetries(), reporter != null);
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
        long now = clock.getAsLong();
        for (SinkRecord record : records) {
            PointBuffer.RecordRef ref = PointBuffer.RecordRef.of(record);
            if (!buffer.accept(ref)) {
                continue; // redelivered after a RetriableException: already buffered, written or reported
            }
            if (record.value() == null) {
                if (config.failOnTombstone()) {
                    fatal = new ConnectException("Record " + ref + " has a null value (tombstone) and "
                            + InfluxDbSinkConfig.TOMBSTONES + "=fail");
                    throw fatal;
                }
                metrics.tombstone();
                continue;
            }
            Point point;
            try {
                point = mapper.map(record);
            } catch (MappingException e) {
                report(ref, e);
                continue;
            }
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
        writeReady(now, false);
        scheduleNextCall();
        maybeLogSummary();
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
     * Writes batches while one is ready (or, with {@code force}, until the buffer is empty).
     *
     * @throws RetriableException after a retriable failure (or while backing off), the buffer kept
     * @throws ConnectException   on a fatal failure, or when max.retries is exhausted
     */
    private void writeReady(long now, boolean force) {
        if (buffer.isEmpty()) {
            consecutiveFailures = 0;
            return;
        }
        if (consecutiveFailures > 0 && now < nextAttemptAt) {
            context.timeout(nextAttemptAt - now);
            throw new RetriableException("Waiting " + (nextAttemptAt - now) + " ms before attempt " + (consecutiveFailures + 1)
                    + " to write to " + writer.writeUrl() + "; last error: " + lastError);
        }
        long deadline = now + putBudgetMs;
        while (!buffer.isEmpty() && (force || buffer.ready(clock.getAsLong(), batchSize, effectiveMaxBytes, lingerMs))) {
            if (clock.getAsLong() >= deadline) {
                return;
            }
            List<PointBuffer.Entry> batch = buffer.nextBatch(batchSize, effectiveMaxBytes);
            List<String> lines = new ArrayList<>(batch.size());
            for (PointBuffer.Entry e : batch) {
                lines.add(e.line());
            }
            InfluxDbWriter.Outcome outcome = writer.write(lines, deadline);
            apply(batch, outcome);
            if (outcome.failure() != null) {
                fail(outcome.failure());
            }
            consecutiveFailures = 0;
            if (outcome.budgetExhausted()) {
                log.debug("put() time budget of {} ms used up; writing on at the next call", putBudgetMs);
                return;
            }
        }
    }

    private void apply(List<PointBuffer.Entry> batch, InfluxDbWriter.Outcome outcome) {
        BitSet written = outcome.written();
        if (!written.isEmpty()) {
            List<PointBuffer.Entry> done = new ArrayList<>(written.cardinality());
            int records = 0;
            for (int i = written.nextSetBit(0); i >= 0; i = written.nextSetBit(i + 1)) {
                done.add(batch.get(i));
                records += batch.get(i).refs().size();
            }
            buffer.complete(done);
            metrics.batchWritten(done.size(), records);
        }
        metrics.partialWrites(outcome.partialWrites());
        for (Map.Entry<Integer, String> rejected : outcome.rejected().entrySet()) {
            PointBuffer.Entry entry = batch.get(rejected.getKey());
            buffer.complete(List.of(entry));
            for (PointBuffer.RecordRef ref : entry.refs()) {
                report(ref, new DataException(rejected.getValue() + "; line: " + abbreviate(entry.line())));
            }
        }
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
        if (consecutiveFailures > config.maxRetries()) {
            fatal = new ConnectException("Giving up after " + consecutiveFailures + " consecutive failed attempts to write to "
                    + writer.writeUrl() + " (" + InfluxDbSinkConfig.MAX_RETRIES + "=" + config.maxRetries() + "); last error: " + lastError);
            throw fatal;
        }
        long backoff = backoffMs(consecutiveFailures, failure.retryAfterMs());
        nextAttemptAt = clock.getAsLong() + backoff;
        context.timeout(Math.max(1L, backoff));
        log.warn("Write failed (attempt {} of at most {}), {} points kept, next attempt in {} ms: {}", consecutiveFailures,
                config.maxRetries() + 1, buffer.size(), backoff, lastError);
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

    private void report(PointBuffer.RecordRef ref, DataException reason) {
        metrics.dlq();
        if (reporter == null) {
            fatal = new ConnectException("Record " + ref + " cannot be written to InfluxDB: " + reason.getMessage()
                    + ". Set errors.tolerance=all with errors.deadletterqueue.topic.name (or errors.log.enable=true) to route such "
                    + "records to a dead letter queue and keep going", reason);
            throw fatal;
        }
        if (warningsSinceSummary++ < WARNINGS_PER_SUMMARY) {
            log.warn("Record {} sent to the errant record reporter: {}", ref, reason.getMessage());
        } else {
            log.debug("Record {} sent to the errant record reporter: {}", ref, reason.getMessage());
        }
        Future<Void> future = reporter.report(ref.record(), reason);
        buffer.reported(ref, future);
    }

    /**
     * Tries to write what is buffered (unless backing off) and returns, per original topic partition, the offset up to
     * which every record is written or reported. A failure here is not thrown (the worker would rewind): it counts as
     * an attempt, and a fatal one fails the next {@code put()}.
     */
    @Override
    public Map<TopicPartition, OffsetAndMetadata> preCommit(Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
        flushQuietly();
        return buffer.committable(currentOffsets);
    }

    /** Not called by the worker (preCommit is overridden); writes what it can, like preCommit. */
    @Override
    public void flush(Map<TopicPartition, OffsetAndMetadata> currentOffsets) {
        flushQuietly();
    }

    private void flushQuietly() {
        if (fatal != null || buffer == null || buffer.isEmpty()) {
            return;
        }
        try {
            writeReady(clock.getAsLong(), true);
        } catch (RetriableException e) {
            log.debug("Buffered points not written at commit time, kept for the next attempt: {}", e.getMessage());
        } catch (ConnectException e) {
            log.error("Writing at commit time failed; the task fails at the next put(): {}", e.getMessage());
        }
    }

    @Override
    public void open(Collection<TopicPartition> partitions) {
        if (buffer != null) {
            buffer.forget(partitions);
        }
    }

    /** Drops what is buffered for revoked partitions: their records are redelivered from the committed offset. */
    @Override
    public void close(Collection<TopicPartition> partitions) {
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
}
