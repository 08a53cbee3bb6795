package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.metrics.Measurable;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.common.metrics.Sensor;
import org.apache.kafka.common.metrics.stats.Avg;
import org.apache.kafka.common.metrics.stats.CumulativeCount;
import org.apache.kafka.common.metrics.stats.CumulativeSum;
import org.apache.kafka.common.metrics.stats.Max;
import org.apache.kafka.common.metrics.stats.Percentile;
import org.apache.kafka.common.metrics.stats.Percentiles;
import org.apache.kafka.common.metrics.stats.Rate;
import org.apache.kafka.common.metrics.stats.WindowedCount;

/**
 * The task's metrics, registered through KIP-877 plugin metrics ({@code SinkTaskContext.pluginMetrics()}); the
 * Connect worker exposes them as MBean {@code kafka.connect:type=plugins,connector=<name>,task=<id>}. Plain counters
 * are kept as well, for the periodic log summary and for tests (and when the worker offers no plugin metrics).
 */
public final class SinkMetrics implements RecordMapper.Listener, InfluxDbWriter.Listener {

    /** Every metric this class registers, with its description: the README lists them from here. */
    static final String[][] METRICS = {
        {"points-written-total", "Points InfluxDB stored (after merging)"},
        {"points-written-rate", "Points stored per second"},
        {"records-written-total", "Records whose points InfluxDB stored"},
        {"batches-written-total", "Batches of which InfluxDB stored points (a batch may take several requests: 400/413 splitting)"},
        {"batches-written-rate", "Batches written per second"},
        {"write-requests-total", "Write requests (/write, /api/v2/write or /api/v3/write_lp), any outcome"},
        {"bytes-sent-total", "Request body bytes of the write requests (compressed when gzip is on)"},
        {"bytes-sent-rate", "Request body bytes sent per second"},
        {"write-latency-avg", "Average time of a write request, ms"},
        {"write-latency-max", "Maximum time of a write request, ms"},
        {"write-latency-p50", "Median time of a write request, ms"},
        {"write-latency-p95", "95th percentile time of a write request, ms"},
        {"write-latency-p99", "99th percentile time of a write request, ms"},
        {"retries-total", "Failed attempts that will be retried (5xx, 429, timeout, connection refused)"},
        {"partial-writes-total", "Partial-write answers (HTTP 400; 422 of InfluxDB 2.x), including those of bisection"},
        {"records-dlq-total", "Records reported to the errant record reporter (DLQ / error log)"},
        {"points-merged-total", "Points merged into a buffered point of the same series and time"},
        {"collisions-total", "Merges of two points with different event.time.disambiguate.field values"},
        {"fields-nonfinite-skipped-total", "NaN or Infinity float fields skipped"},
        {"fields-unsupported-skipped-total", "Fields skipped for their type (bytes, arrays, too large integers) or name (time, a tag key)"},
        {"tombstones-skipped-total", "Records with a null value skipped (tombstones.behavior=ignore)"},
        {"buffered-points", "Points waiting in the buffer"},
        {"buffered-bytes", "Uncompressed line-protocol bytes waiting in the buffer"},
        {"consecutive-failures", "Consecutive failed write attempts (reset by a success)"},
    };

    private final PluginMetrics pluginMetrics;
    private final Sensor pointsWrittenSensor;
    private final Sensor recordsWrittenSensor;
    private final Sensor batchesSensor;
    private final Sensor requestsSensor;
    private final Sensor bytesSensor;
    private final Sensor latencySensor;
    private final Sensor retriesSensor;
    private final Sensor partialSensor;
    private final Sensor dlqSensor;
    private final Sensor mergedSensor;
    private final Sensor collisionSensor;
    private final Sensor nonFiniteSensor;
    private final Sensor unsupportedSensor;
    private final Sensor tombstoneSensor;

    private long pointsWritten;
    private long recordsWritten;
    private long batches;
    private long requests;
    private long bytesSent;
    private long retries;
    private long partialWrites;
    private long dlqRecords;
    private long pointsMerged;
    private long collisions;
    private long nonFiniteSkipped;
    private long unsupportedSkipped;
    private long tombstonesSkipped;
    private long maxLatencyMs;

    /** Sensors live in the worker's one Metrics registry, by name: each task instance needs its own names. */
    private static final AtomicLong INSTANCES = new AtomicLong();

    /**
     * Extra tag of the metrics of a task instance that started while an earlier instance of the same task still held
     * the plain names (a predecessor that did not stop within the graceful shutdown timeout). Its value is unique to
     * this instance, so the predecessor's eventual close (which removes metrics by name) leaves these alone.
     */
    static final String INSTANCE_TAG = "instance";

    private final long instance;
    private final String sensorPrefix;
    private final LinkedHashMap<String, String> extraTags;
    private final List<String> sensors = new ArrayList<>();
    private final List<MetricName> gauges = new ArrayList<>();

    /**
     * Registers the task's metrics under the task's plain MBean name, or, when an earlier instance of the task still
     * holds it, under the same name plus tag {@value #INSTANCE_TAG}: a task instance always starts.
     *
     * @param pluginMetrics the worker's plugin metrics, or null to keep plain counters only
     * @param maxLatencyMs  upper end of the latency histogram (the HTTP timeout)
     */
    public static SinkMetrics register(PluginMetrics pluginMetrics, long maxLatencyMs, LongSupplier bufferedPoints,
                                       LongSupplier bufferedBytes, LongSupplier consecutiveFailures) {
        long instance = INSTANCES.incrementAndGet();
        if (pluginMetrics == null) {
            return new SinkMetrics(null, instance, new LinkedHashMap<>(), maxLatencyMs, bufferedPoints, bufferedBytes, consecutiveFailures);
        }
        try {
            return new SinkMetrics(pluginMetrics, instance, new LinkedHashMap<>(), maxLatencyMs, bufferedPoints, bufferedBytes,
                    consecutiveFailures);
        } catch (IllegalArgumentException taken) {
            LinkedHashMap<String, String> tags = new LinkedHashMap<>();
            tags.put(INSTANCE_TAG, Long.toString(instance));
            return new SinkMetrics(pluginMetrics, instance, tags, maxLatencyMs, bufferedPoints, bufferedBytes, consecutiveFailures);
        }
    }

    private SinkMetrics(PluginMetrics pluginMetrics, long instance, LinkedHashMap<String, String> extraTags, long maxLatencyMs,
                        LongSupplier bufferedPoints, LongSupplier bufferedBytes, LongSupplier consecutiveFailures) {
        this.pluginMetrics = pluginMetrics;
        this.instance = instance;
        this.extraTags = extraTags;
        this.sensorPrefix = "shopstream-influxdb-sink-" + instance + (extraTags.isEmpty() ? "." : "-" + INSTANCE_TAG + ".");
        if (pluginMetrics == null) {
            pointsWrittenSensor = recordsWrittenSensor = batchesSensor = requestsSensor = bytesSensor = latencySensor = null;
            retriesSensor = partialSensor = dlqSensor = mergedSensor = collisionSensor = null;
            nonFiniteSensor = unsupportedSensor = tombstoneSensor = null;
            return;
        }
        try {
            pointsWrittenSensor = sensor("points-written");
            pointsWrittenSensor.add(name("points-written-total"), new CumulativeSum());
            pointsWrittenSensor.add(name("points-written-rate"), new Rate());
            recordsWrittenSensor = sensor("records-written");
            recordsWrittenSensor.add(name("records-written-total"), new CumulativeSum());
            batchesSensor = sensor("batches-written");
            batchesSensor.add(name("batches-written-total"), new CumulativeCount());
            batchesSensor.add(name("batches-written-rate"), new Rate(new WindowedCount()));
            requestsSensor = sensor("write-requests");
            requestsSensor.add(name("write-requests-total"), new CumulativeCount());
            bytesSensor = sensor("bytes-sent");
            bytesSensor.add(name("bytes-sent-total"), new CumulativeSum());
            bytesSensor.add(name("bytes-sent-rate"), new Rate());
            latencySensor = sensor("write-latency");
            latencySensor.add(name("write-latency-avg"), new Avg());
            latencySensor.add(name("write-latency-max"), new Max());
            latencySensor.add(new Percentiles(4_000, 0.0, Math.max(1.0, maxLatencyMs), Percentiles.BucketSizing.LINEAR,
                    new Percentile(name("write-latency-p50"), 50.0),
                    new Percentile(name("write-latency-p95"), 95.0),
                    new Percentile(name("write-latency-p99"), 99.0)));
            retriesSensor = counter("retries");
            partialSensor = counter("partial-writes");
            dlqSensor = counter("records-dlq");
            mergedSensor = counter("points-merged");
            collisionSensor = counter("collisions");
            nonFiniteSensor = counter("fields-nonfinite-skipped");
            unsupportedSensor = counter("fields-unsupported-skipped");
            tombstoneSensor = counter("tombstones-skipped");
            gauge("buffered-points", bufferedPoints);
            gauge("buffered-bytes", bufferedBytes);
            gauge("consecutive-failures", consecutiveFailures);
        } catch (IllegalArgumentException taken) {
            // a name is held by another instance: remove what this one registered (its own names only) and say so
            unregister();
            throw taken;
        }
    }

    private void unregister() {
        for (String s : sensors) {
            pluginMetrics.removeSensor(s);
        }
        for (MetricName g : gauges) {
            pluginMetrics.removeMetric(g);
        }
        sensors.clear();
        gauges.clear();
    }

    /** @return how the metrics are registered, for the start-up log line */
    public String registration() {
        if (pluginMetrics == null) {
            return "not registered (no plugin metrics)";
        }
        return extraTags.isEmpty() ? "registered under the task's MBean name"
                : "registered with tag " + INSTANCE_TAG + "=" + instance + ": an earlier instance of this task still holds the plain names";
    }

    private Sensor sensor(String name) {
        Sensor s = pluginMetrics.addSensor(sensorPrefix + name);
        sensors.add(sensorPrefix + name);
        return s;
    }

    private Sensor counter(String base) {
        Sensor s = sensor(base);
        s.add(name(base + "-total"), new CumulativeCount());
        return s;
    }

    private void gauge(String metric, LongSupplier value) {
        MetricName name = name(metric);
        pluginMetrics.addMetric(name, (Measurable) (config, now) -> value.getAsLong());
        gauges.add(name);
    }

    private MetricName name(String metric) {
        return pluginMetrics.metricName(metric, description(metric), new LinkedHashMap<>(extraTags));
    }

    static String description(String metric) {
        for (String[] m : METRICS) {
            if (m[0].equals(metric)) {
                return m[1];
            }
        }
        throw new IllegalArgumentException("undocumented metric " + metric);
    }

    /** @return the names of all metrics, in README order */
    static List<String> names() {
        List<String> names = new ArrayList<>();
        for (String[] m : METRICS) {
            names.add(m[0]);
        }
        return names;
    }

    private static void record(Sensor s, double v) {
        if (s != null) {
            s.record(v);
        }
    }

    // ---- events

    @Override
    public void onRequest(int status, long latencyMs, long bodyBytes, int lines) {
        requests++;
        bytesSent += bodyBytes;
        maxLatencyMs = Math.max(maxLatencyMs, latencyMs);
        record(requestsSensor, 1);
        record(bytesSensor, bodyBytes);
        record(latencySensor, latencyMs);
    }

    /** A batch was written: {@code points} points standing for {@code records} records. */
    public void batchWritten(int points, int records) {
        batches++;
        pointsWritten += points;
        recordsWritten += records;
        record(batchesSensor, 1);
        record(pointsWrittenSensor, points);
        record(recordsWrittenSensor, records);
    }

    public void retry() {
        retries++;
        record(retriesSensor, 1);
    }

    public void partialWrites(int n) {
        partialWrites += n;
        for (int i = 0; i < n; i++) {
            record(partialSensor, 1);
        }
    }

    public void dlq() {
        dlqRecords++;
        record(dlqSensor, 1);
    }

    public void merged(boolean collision) {
        pointsMerged++;
        record(mergedSensor, 1);
        if (collision) {
            collisions++;
            record(collisionSensor, 1);
        }
    }

    public void tombstone() {
        tombstonesSkipped++;
        record(tombstoneSensor, 1);
    }

    @Override
    public void nonFiniteSkipped(String fieldKey) {
        nonFiniteSkipped++;
        record(nonFiniteSensor, 1);
    }

    @Override
    public void unsupportedSkipped(String fieldKey, String why) {
        unsupportedSkipped++;
        record(unsupportedSensor, 1);
    }

    // ---- plain counters

    public long pointsWritten() {
        return pointsWritten;
    }

    public long recordsWritten() {
        return recordsWritten;
    }

    public long batches() {
        return batches;
    }

    public long requests() {
        return requests;
    }

    public long bytesSent() {
        return bytesSent;
    }

    public long retries() {
        return retries;
    }

    public long partialWrites() {
        return partialWrites;
    }

    public long dlqRecords() {
        return dlqRecords;
    }

    public long pointsMerged() {
        return pointsMerged;
    }

    public long collisions() {
        return collisions;
    }

    public long nonFiniteSkipped() {
        return nonFiniteSkipped;
    }

    public long unsupportedSkipped() {
        return unsupportedSkipped;
    }

    public long tombstonesSkipped() {
        return tombstonesSkipped;
    }

    public long maxLatencyMs() {
        return maxLatencyMs;
    }

    /** @return a one-line summary of the totals, for the periodic INFO log */
    public String summary() {
        return "points written " + pointsWritten + " (records " + recordsWritten + ", batches " + batches + ", requests " + requests
                + ", bytes sent " + bytesSent + "), retries " + retries + ", partial writes " + partialWrites + ", records to DLQ "
                + dlqRecords + ", points merged " + pointsMerged + ", collisions " + collisions + ", non-finite fields skipped "
                + nonFiniteSkipped + ", unsupported fields skipped " + unsupportedSkipped + ", tombstones skipped " + tombstonesSkipped;
    }
}
