package io.shopstream.connect.influxdb;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
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
            return of(record, null);
        }

        /**
         * @param previous the ref of the record before (or null), whose TopicPartition is reused when it is the same:
         *                 a put() delivers runs of records of one partition
         */
        public static RecordRef of(SinkRecord record, RecordRef previous) {
            Integer p = record.originalKafkaPartition();
            int partition = p == null ? -1 : p;
            String topic = record.originalTopic();
            TopicPartition tp = previous != null && previous.partition.partition() == partition && previous.partition.topic().equals(topic)
                    ? previous.partition : new TopicPartition(topic, partition);
            return new RecordRef(tp, record.originalKafkaOffset(), record);
        }

        @Override
        public String toString() {
            return partition + "@" + offset;
        }
    }

    /**
     * A point's identity in InfluxDB: its series (escaped measurement and sorted tag set, the bytes of its line before
     * the first unescaped space) and its time. Hashes and compares those bytes of the encoded line.
     */
    private static final class SeriesKey {
        private final byte[] line;
        private final int seriesLength;
        private final long time;
        private final int hash;

        SeriesKey(byte[] line, int seriesLength, long time) {
            this.line = line;
            this.seriesLength = seriesLength;
            this.time = time;
            int h = Long.hashCode(time);
            for (int i = 0; i < seriesLength; i++) {
                h = 31 * h + line[i];
            }
            this.hash = h;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof SeriesKey k && k.hash == hash && k.time == time
                    && Arrays.equals(line, 0, seriesLength, k.line, 0, k.seriesLength);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** One record's own point in an entry, and when it was buffered. */
    private record Part(RecordRef ref, Point point, long addedAt) {
    }

    /** One point to write (encoded once, as UTF-8) and the records it was built from, oldest first. */
    public static final class Entry {
        private final SeriesKey key;
        // one record per point is the rule (merges are rare): sized for it
        private final List<Part> parts = new ArrayList<>(1);
        private byte[] line;

        private Entry(SeriesKey key) {
            this.key = key;
        }

        /** @return the encoded line, without newline (decoded: for messages and tests) */
        public String line() {
            return new String(line, StandardCharsets.UTF_8);
        }

        /** @return the encoded line, UTF-8, without newline */
        public byte[] lineBytes() {
            return line;
        }

        /** @return UTF-8 bytes of the line plus its newline */
        public int bytes() {
            return line.length + 1;
        }

        /** @return the number of records (each with its own point) merged into this point */
        public int size() {
            return parts.size();
        }

        /** @return the i-th record, oldest first */
        public RecordRef ref(int i) {
            return parts.get(i).ref;
        }

        /** @return the records of the point, oldest first */
        public List<RecordRef> refs() {
            List<RecordRef> refs = new ArrayList<>(parts.size());
            for (Part p : parts) {
                refs.add(p.ref);
            }
            return refs;
        }

        /** @return each record's own point, aligned with {@link #refs()}: what the merged point was built from */
        public List<Point> parts() {
            List<Point> points = new ArrayList<>(parts.size());
            for (Part p : parts) {
                points.add(p.point);
            }
            return points;
        }

        private void recompute(LineProtocol.LineBuffer scratch) {
            Point merged = parts.get(0).point;
            for (int i = 1; i < parts.size(); i++) {
                merged = merged.mergedWith(parts.get(i).point);
            }
            LineProtocol.encode(merged, scratch);
            line = scratch.copy();
        }

        private long firstAddedAt() {
            long min = Long.MAX_VALUE;
            for (Part p : parts) {
                min = Math.min(min, p.addedAt);
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

    private record Reported(RecordRef ref, Future<?> future) {
    }

    private final LinkedHashMap<SeriesKey, Entry> entries = new LinkedHashMap<>();
    private final Map<TopicPartition, PendingOffsets> partitions = new HashMap<>();
    private final List<Reported> reported = new ArrayList<>();
    private final LineProtocol.LineBuffer scratch = new LineProtocol.LineBuffer();
    private long bytes;
    private TopicPartition lastPartition; // of the last state() lookup: records come in runs of one partition
    private PendingOffsets lastPending;

    /** Adds the point of a record, merging it into a buffered point of the same series and time. */
    public AddResult add(RecordRef ref, Point point, long nowMs) {
        LineProtocol.encode(point, scratch);
        byte[] line = scratch.copy();
        SeriesKey key = new SeriesKey(line, scratch.seriesLength(), point.time());
        Entry entry = entries.get(key);
        boolean merged = entry != null;
        String earlier = merged && point.disambiguation() != null ? otherEvent(entry, point.disambiguation()) : null;
        if (entry == null) {
            entry = new Entry(key);
            entries.put(key, entry);
            entry.line = line;
        } else {
            bytes -= entry.bytes();
        }
        entry.parts.add(new Part(ref, point, nowMs));
        if (merged) {
            entry.recompute(scratch);
        }
        bytes += entry.bytes();
        state(ref).add(ref.offset());
        return new AddResult(merged, earlier, point.disambiguation());
    }

    /**
     * @return the disambiguation value of the first other event already in the entry, or null when there is none or
     * this event is already part of it (a collision is a merge with a point of another event)
     */
    private static String otherEvent(Entry entry, String disambiguation) {
        String earlier = null;
        for (Part part : entry.parts) {
            String d = part.point.disambiguation();
            if (disambiguation.equals(d)) {
                return null;
            }
            if (earlier == null && d != null) {
                earlier = d;
            }
        }
        return earlier;
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

    private PendingOffsets state(RecordRef ref) {
        if (ref.partition() != lastPartition) {
            lastPartition = ref.partition();
            lastPending = partitions.computeIfAbsent(lastPartition, tp -> new PendingOffsets());
        }
        return lastPending;
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
            if (batch.size() >= maxPoints || (!batch.isEmpty() && size + e.bytes() > maxBytes)) {
                break;
            }
            batch.add(e);
            size += e.bytes();
        }
        return batch;
    }

    /** The entries were written: they leave the buffer and their records are done. */
    public void complete(Collection<Entry> done) {
        for (Entry e : done) {
            if (take(e)) {
                for (Part p : e.parts) {
                    done(p.ref);
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
        bytes -= e.bytes();
        return true;
    }

    /** One pending occurrence of the record is done (its point written, or its report started and tracked). */
    public void done(RecordRef ref) {
        PendingOffsets state = ref.partition() == lastPartition ? lastPending : partitions.get(ref.partition());
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
            PendingOffsets state = partitions.get(e.getKey());
            if (state == null || state.isEmpty()) {
                result.put(e.getKey(), e.getValue());
            } else {
                long first = state.first();
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
            if (!e.parts.removeIf(p -> revoked.contains(p.ref.partition()))) {
                continue;
            }
            bytes -= e.bytes();
            if (e.parts.isEmpty()) {
                it.remove();
            } else {
                e.recompute(scratch);
                bytes += e.bytes();
            }
        }
        reported.removeIf(r -> revoked.contains(r.ref.partition()));
        for (TopicPartition tp : revoked) {
            partitions.remove(tp);
        }
        lastPartition = null;
        lastPending = null;
    }

    /** @return the pending offsets of the partition, lowest first, each as often as it is pending (for tests and logs) */
    public List<Long> pending(TopicPartition tp) {
        PendingOffsets state = partitions.get(tp);
        List<Long> out = new ArrayList<>();
        if (state != null) {
            state.forEach(out::add);
        }
        return out;
    }
}
