package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.connect.sink.SinkRecord;

/**
 * The points waiting to be written, and which Kafka offsets they stand for.
 * <ul>
 *   <li>Points with the same measurement, tag set and time are merged as InfluxDB would store them (union of fields,
 *       the later value wins) into one entry that remembers every record (and every record's own point) it came
 *       from, so that a merge InfluxDB refuses can be split again.</li>
 *   <li>Batches are taken from the front (oldest first) by point count and uncompressed bytes; entries leave the
 *       buffer only when the task says they were written, or refused and reported, so a failed write loses
 *       nothing.</li>
 *   <li>Offsets are tracked per original topic partition as a multiset of pending offsets (a record may stand behind
 *       several points, and offsets may go backwards when a topic is recreated): a partition can be committed up to
 *       its first record that is still pending (buffered, reported to the DLQ and not yet acknowledged, or
 *       {@linkplain #hold held} because the task is failing on it).</li>
 * </ul>
 * Not thread-safe: used by the task thread only.
 */
public final class PointBuffer {

    /** A record's identity in Kafka: original topic partition and offset (before any SMT). */
    public record RecordRef(TopicPartition partition, long offset, SinkRecord record) {
        public RecordRef {
            Objects.requireNonNull(partition);
        }

        /** @return a ref keyed by {@code originalTopic()}, {@code originalKafkaPartition()}, {@code originalKafkaOffset()} */
        public static RecordRef of(SinkRecord record) {
            Integer partition = record.originalKafkaPartition();
            return new RecordRef(new TopicPartition(record.originalTopic(), partition == null ? -1 : partition),
                    record.originalKafkaOffset(), record);
        }

        @Override
        public String toString() {
            return partition + "@" + offset;
        }
    }

    /** One point to write and the records it was built from, oldest first. */
    public static final class Entry {
        private final String key;
        // one record per point is the rule (merges are rare): lists sized for it
        private final List<RecordRef> refs = new ArrayList<>(1);
        private final List<Point> parts = new ArrayList<>(1);
        private final List<Long> addedAt = new ArrayList<>(1);
        private Point point;
        private String line;
        private int bytes;

        private Entry(String key) {
            this.key = key;
        }

        public Point point() {
            return point;
        }

        /** @return the encoded line, without newline */
        public String line() {
            return line;
        }

        /** @return UTF-8 bytes of the line plus its newline */
        public int bytes() {
            return bytes;
        }

        /** @return the records of the point, oldest first */
        public List<RecordRef> refs() {
            return refs;
        }

        /** @return each record's own point, aligned with {@link #refs()}: what the merged point was built from */
        public List<Point> parts() {
            return parts;
        }

        private void recompute() {
            Point merged = parts.get(0);
            for (int i = 1; i < parts.size(); i++) {
                merged = merged.mergedWith(parts.get(i));
            }
            point = merged;
            line = LineProtocol.encode(merged);
            bytes = LineProtocol.lineBytes(line);
        }

        private long firstAddedAt() {
            long min = Long.MAX_VALUE;
            for (long t : addedAt) {
                min = Math.min(min, t);
            }
            return min;
        }
    }

    /**
     * What happened when a point was added.
     *
     * @param merged                true when the point joined an existing point of the same series and time
     * @param earlierDisambiguation the disambiguation value of another event already in the merged point, or null
     * @param laterDisambiguation   the added point's disambiguation value, or null
     */
    public record AddResult(boolean merged, String earlierDisambiguation, String laterDisambiguation) {
        /**
         * @return true when the point merged into a point of another event (a different disambiguation value, not
         * already part of the merged point): two events collided
         */
        public boolean collision() {
            return merged && earlierDisambiguation != null && laterDisambiguation != null
                    && !earlierDisambiguation.equals(laterDisambiguation);
        }
    }

    /** Pending offsets of one partition, as a multiset: offset → how many times it is pending. */
    private static final class PartitionState {
        final TreeMap<Long, Integer> pending = new TreeMap<>();

        void add(long offset) {
            pending.merge(offset, 1, Integer::sum);
        }

        void remove(long offset) {
            pending.computeIfPresent(offset, (o, n) -> n == 1 ? null : n - 1);
        }
    }

    private record Reported(RecordRef ref, Future<?> future) {
    }

    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>();
    private final Map<TopicPartition, PartitionState> partitions = new HashMap<>();
    private final List<Reported> reported = new ArrayList<>();
    private long bytes;

    /** Adds the point of a record, merging it into a buffered point of the same series and time. */
    public AddResult add(RecordRef ref, Point point, long nowMs) {
        String key = LineProtocol.seriesTimeKey(point);
        Entry entry = entries.get(key);
        boolean merged = entry != null;
        String earlier = null;
        if (merged && point.disambiguation() != null) {
            // a collision is a merge with a point of another event: the first other value, unless this event is already in
            for (Point part : entry.parts) {
                String d = part.disambiguation();
                if (point.disambiguation().equals(d)) {
                    earlier = null;
                    break;
                }
                if (earlier == null && d != null) {
                    earlier = d;
                }
            }
        }
        if (entry == null) {
            entry = new Entry(key);
            entries.put(key, entry);
        } else {
            bytes -= entry.bytes;
        }
        entry.refs.add(ref);
        entry.parts.add(point);
        entry.addedAt.add(nowMs);
        if (merged) {
            entry.recompute();
        } else {
            entry.point = point;
            entry.line = LineProtocol.encode(point);
            entry.bytes = LineProtocol.lineBytes(entry.line);
        }
        bytes += entry.bytes;
        state(ref).add(ref.offset());
        return new AddResult(merged, earlier, point.disambiguation());
    }

    /**
     * The record was handed to the errant record reporter: its offset stays pending until the report is acknowledged
     * ({@code future} done).
     */
    public void reported(RecordRef ref, Future<?> future) {
        if (future != null && !future.isDone()) {
            state(ref).add(ref.offset());
            reported.add(new Reported(ref, future));
        }
    }

    /**
     * The record was neither written nor reported and the task is failing on it: its offset stays pending for the
     * rest of this task's life, so that no commit (the worker commits even after put() failed) passes it.
     */
    public void hold(RecordRef ref) {
        state(ref).add(ref.offset());
    }

    private PartitionState state(RecordRef ref) {
        return partitions.computeIfAbsent(ref.partition(), tp -> new PartitionState());
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    /** @return number of buffered points (after merging) */
    public int size() {
        return entries.size();
    }

    /** @return uncompressed line-protocol bytes of the buffered points */
    public long bytes() {
        return bytes;
    }

    /** @return when the oldest buffered record was added, or Long.MAX_VALUE when empty */
    public long oldestAddedAt() {
        Iterator<Entry> it = entries.values().iterator();
        return it.hasNext() ? it.next().firstAddedAt() : Long.MAX_VALUE;
    }

    /**
     * @return true when a batch should be written now: {@code maxPoints} points or {@code maxBytes} bytes are buffered,
     * or the oldest point has waited {@code lingerMs}
     */
    public boolean ready(long nowMs, int maxPoints, long maxBytes, long lingerMs) {
        if (entries.isEmpty()) {
            return false;
        }
        return entries.size() >= maxPoints || bytes >= maxBytes || nowMs - oldestAddedAt() >= lingerMs;
    }

    /** @return ms until the oldest point has waited {@code lingerMs} (0 when it has, or the buffer is empty) */
    public long lingerRemaining(long nowMs, long lingerMs) {
        if (entries.isEmpty()) {
            return 0L;
        }
        return Math.max(0L, oldestAddedAt() + lingerMs - nowMs);
    }

    /**
     * @return the oldest entries, at most {@code maxPoints} of them and at most {@code maxBytes} bytes (but at least
     * one entry, even when it alone is larger); the entries stay buffered until {@link #complete} or {@link #take}
     */
    public List<Entry> nextBatch(int maxPoints, long maxBytes) {
        List<Entry> batch = new ArrayList<>();
        long size = 0;
        for (Entry e : entries.values()) {
            if (batch.size() >= maxPoints || (!batch.isEmpty() && size + e.bytes > maxBytes)) {
                break;
            }
            batch.add(e);
            size += e.bytes;
        }
        return batch;
    }

    /** The entries were written: they leave the buffer and their records are done. */
    public void complete(Collection<Entry> done) {
        for (Entry e : done) {
            if (take(e)) {
                for (RecordRef ref : e.refs) {
                    done(ref);
                }
            }
        }
    }

    /**
     * The entry leaves the buffer while its records stay pending, each until {@link #done} (used when a refused merged
     * point is split into its records' own points).
     *
     * @return false when it had already left
     */
    public boolean take(Entry e) {
        if (entries.remove(e.key) == null) {
            return false;
        }
        bytes -= e.bytes;
        return true;
    }

    /** One pending occurrence of the record is done (its point written, or its report started and tracked). */
    public void done(RecordRef ref) {
        PartitionState state = partitions.get(ref.partition());
        if (state != null) {
            state.remove(ref.offset());
        }
    }

    /**
     * @param current the worker's offsets (next offset to read, per partition) as passed to preCommit
     * @return for each partition of {@code current}: its first pending offset when lower than the worker's, else the
     * worker's offset
     */
    public Map<TopicPartition, OffsetAndMetadata> committable(Map<TopicPartition, OffsetAndMetadata> current) {
        for (Iterator<Reported> it = reported.iterator(); it.hasNext();) {
            Reported r = it.next();
            if (r.future.isDone()) {
                if (acknowledged(r.future)) {
                    done(r.ref);
                }
                it.remove(); // a failed report stays pending: the record reached no DLQ
            }
        }
        Map<TopicPartition, OffsetAndMetadata> result = new HashMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : current.entrySet()) {
            PartitionState state = partitions.get(e.getKey());
            if (state == null || state.pending.isEmpty()) {
                result.put(e.getKey(), e.getValue());
            } else {
                long first = state.pending.firstKey();
                result.put(e.getKey(), first < e.getValue().offset() ? new OffsetAndMetadata(first) : e.getValue());
            }
        }
        return result;
    }

    private static boolean acknowledged(Future<?> done) {
        try {
            done.get();
            return true;
        } catch (ExecutionException | CancellationException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Forgets everything of these partitions (revoked or lost on a rebalance, or newly assigned): their records will be
     * delivered again from the last committed offset to whichever task owns them. Merged points that also hold records
     * of other partitions are rebuilt from those records alone.
     */
    public void forget(Collection<TopicPartition> revoked) {
        if (revoked.isEmpty()) {
            return;
        }
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext();) {
            Entry e = it.next();
            boolean touched = false;
            for (int i = e.refs.size() - 1; i >= 0; i--) {
                if (revoked.contains(e.refs.get(i).partition())) {
                    e.refs.remove(i);
                    e.parts.remove(i);
                    e.addedAt.remove(i);
                    touched = true;
                }
            }
            if (!touched) {
                continue;
            }
            bytes -= e.bytes;
            if (e.refs.isEmpty()) {
                it.remove();
            } else {
                e.recompute();
                bytes += e.bytes;
            }
        }
        reported.removeIf(r -> revoked.contains(r.ref.partition()));
        for (TopicPartition tp : revoked) {
            partitions.remove(tp);
        }
    }

    /** @return the pending offsets of the partition, lowest first, each as often as it is pending (for tests and logs) */
    public List<Long> pending(TopicPartition tp) {
        PartitionState state = partitions.get(tp);
        List<Long> out = new ArrayList<>();
        if (state != null) {
            state.pending.forEach((offset, n) -> {
                for (int i = 0; i < n; i++) {
                    out.add(offset);
                }
            });
        }
        return out;
    }
}
