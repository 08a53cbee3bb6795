package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.metrics.PluginMetrics;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.sink.ErrantRecordReporter;
import org.apache.kafka.connect.sink.SinkRecord;
import org.apache.kafka.connect.sink.SinkTaskContext;

/** Shared helpers: configs, records, a SinkTaskContext and an ErrantRecordReporter that remember what they got. */
final class TestSupport {
    private TestSupport() {
    }

    /** A valid minimal configuration plus {@code overrides} (key, value pairs). */
    static Map<String, String> config(String... overrides) {
        Map<String, String> props = new HashMap<>();
        props.put(InfluxDbSinkConfig.URL, "http://127.0.0.1:8086");
        props.put(InfluxDbSinkConfig.DB, "metrics");
        for (int i = 0; i + 1 < overrides.length; i += 2) {
            if (overrides[i + 1] == null) {
                props.remove(overrides[i]);
            } else {
                props.put(overrides[i], overrides[i + 1]);
            }
        }
        return props;
    }

    static InfluxDbSinkConfig parsed(String... overrides) {
        return new InfluxDbSinkConfig(config(overrides));
    }

    /** A record whose original topic/partition/offset equal its own. */
    static SinkRecord record(String topic, int partition, long offset, Schema keySchema, Object key, Schema valueSchema, Object value,
                             Long timestamp) {
        return new SinkRecord(topic, partition, keySchema, key, valueSchema, value, offset, timestamp,
                timestamp == null ? TimestampType.NO_TIMESTAMP_TYPE : TimestampType.CREATE_TIME);
    }

    /** A record as an SMT left it: topic renamed, original coordinates kept. */
    static SinkRecord routed(String topic, String originalTopic, int partition, long offset, Object value, long timestamp) {
        return new SinkRecord(topic, partition, null, null, null, value, offset, timestamp, TimestampType.CREATE_TIME, List.of(),
                originalTopic, partition, offset);
    }

    /** A schemaless record (JsonConverter with schemas.enable=false). */
    static SinkRecord json(String topic, int partition, long offset, Map<String, Object> value, long timestamp) {
        return record(topic, partition, offset, null, null, null, value, timestamp);
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i + 1 < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    static Map<TopicPartition, OffsetAndMetadata> offsets(Object... tpOffset) {
        Map<TopicPartition, OffsetAndMetadata> m = new HashMap<>();
        for (int i = 0; i + 2 < tpOffset.length; i += 3) {
            m.put(new TopicPartition((String) tpOffset[i], (Integer) tpOffset[i + 1]), new OffsetAndMetadata((Long) tpOffset[i + 2]));
        }
        return m;
    }

    /** A mutable clock in epoch ms. */
    static final class Clock {
        long now;

        Clock(long now) {
            this.now = now;
        }

        long millis() {
            return now;
        }
    }

    /** Reporter remembering each record and reason; futures complete at once unless {@link #hold} is set. */
    static class Reporter implements ErrantRecordReporter {
        final List<SinkRecord> records = new ArrayList<>();
        final List<Throwable> reasons = new ArrayList<>();
        final List<CompletableFuture<Void>> futures = new ArrayList<>();
        boolean hold;

        @Override
        public Future<Void> report(SinkRecord record, Throwable error) {
            records.add(record);
            reasons.add(error);
            CompletableFuture<Void> f = hold ? new CompletableFuture<>() : CompletableFuture.completedFuture(null);
            futures.add(f);
            return f;
        }

        List<Long> offsets() {
            List<Long> out = new ArrayList<>();
            for (SinkRecord r : records) {
                out.add(r.kafkaOffset());
            }
            return out;
        }
    }

    /** SinkTaskContext remembering every timeout asked for. */
    static final class Context implements SinkTaskContext {
        final Map<String, String> configs;
        final ErrantRecordReporter reporter;
        final PluginMetrics pluginMetrics;
        final List<Long> timeouts = new ArrayList<>();
        final Set<TopicPartition> assignment = new HashSet<>();

        Context(Map<String, String> configs, ErrantRecordReporter reporter, PluginMetrics pluginMetrics) {
            this.configs = configs;
            this.reporter = reporter;
            this.pluginMetrics = pluginMetrics;
        }

        Long lastTimeout() {
            return timeouts.isEmpty() ? null : timeouts.get(timeouts.size() - 1);
        }

        @Override
        public Map<String, String> configs() {
            return configs;
        }

        @Override
        public void offset(Map<TopicPartition, Long> offsets) {
            throw new UnsupportedOperationException("the task never rewinds");
        }

        @Override
        public void offset(TopicPartition tp, long offset) {
            throw new UnsupportedOperationException("the task never rewinds");
        }

        @Override
        public void timeout(long timeoutMs) {
            timeouts.add(timeoutMs);
        }

        @Override
        public Set<TopicPartition> assignment() {
            return assignment;
        }

        @Override
        public void pause(TopicPartition... partitions) {
            throw new UnsupportedOperationException("the task never pauses");
        }

        @Override
        public void resume(TopicPartition... partitions) {
            throw new UnsupportedOperationException("the task never pauses");
        }

        @Override
        public void requestCommit() {
        }

        @Override
        public ErrantRecordReporter errantRecordReporter() {
            return reporter;
        }

        @Override
        public PluginMetrics pluginMetrics() {
            return pluginMetrics;
        }
    }

    /** A RecordMapper.Listener counting what was skipped. */
    static final class Skips implements RecordMapper.Listener {
        final List<String> nonFinite = new ArrayList<>();
        final List<String> unsupported = new ArrayList<>();

        @Override
        public void nonFiniteSkipped(String fieldKey) {
            nonFinite.add(fieldKey);
        }

        @Override
        public void unsupportedSkipped(String fieldKey, String why) {
            unsupported.add(fieldKey);
        }
    }
}
