package io.shopstream.connect.influxdb;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.sink.SinkRecord;

/**
 * The records of the {@code put()} calls that ended in a {@code RetriableException}: the worker hands exactly these
 * to the next {@code put()} again, and the task already holds them (buffered, written or reported), so they are
 * skipped then. Kept as one offset range per original topic partition; forgotten after a {@code put()} that did not
 * throw one. Any other record is processed, also when its offset is lower than one seen before (a recreated topic, or
 * offsets reset while the task keeps its partitions): an offset that goes back is a new delivery, not a duplicate.
 */
final class Redelivery {
    private record Range(long first, long last) {
        Range with(long offset) {
            return new Range(Math.min(first, offset), Math.max(last, offset));
        }

        boolean contains(long offset) {
            return offset >= first && offset <= last;
        }
    }

    private final Map<TopicPartition, Range> expected = new HashMap<>();

    /** @return true when the record belongs to a batch the task already took before throwing RetriableException */
    boolean isRedelivered(PointBuffer.RecordRef ref) {
        Range r = expected.get(ref.partition());
        return r != null && r.contains(ref.offset());
    }

    boolean isEmpty() {
        return expected.isEmpty();
    }

    /** put() threw RetriableException after taking these records: the worker will deliver them again. */
    void expect(Collection<SinkRecord> records) {
        for (SinkRecord record : records) {
            PointBuffer.RecordRef ref = PointBuffer.RecordRef.of(record);
            expected.merge(ref.partition(), new Range(ref.offset(), ref.offset()), (a, b) -> a.with(ref.offset()));
        }
    }

    /** put() returned normally: the redelivered batch (if any) has been seen. */
    void clear() {
        expected.clear();
    }

    /** The partitions were closed: whatever the worker still holds of them is delivered as new. */
    void forget(Collection<TopicPartition> partitions) {
        expected.keySet().removeAll(partitions);
    }
}
