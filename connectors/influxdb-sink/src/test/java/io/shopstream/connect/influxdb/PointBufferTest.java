package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.offsets;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

class PointBufferTest {
    private static final TopicPartition P0 = new TopicPartition("t", 0);
    private static final TopicPartition P1 = new TopicPartition("t", 1);

    private final PointBuffer buffer = new PointBuffer();

    private static PointBuffer.RecordRef ref(TopicPartition tp, long offset) {
        return new PointBuffer.RecordRef(tp, offset, null);
    }

    private static Point point(String tag, long time, Object... kv) {
        Map<String, Object> fields = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            fields.put((String) kv[i], kv[i + 1]);
        }
        return new Point("m", tag == null ? Map.of() : Map.of("t", tag), fields, time, null);
    }

    private PointBuffer.AddResult add(TopicPartition tp, long offset, Point p, long now) {
        return buffer.add(ref(tp, offset), p, now);
    }

    private static List<String> lines(List<PointBuffer.Entry> batch) {
        List<String> out = new ArrayList<>();
        for (PointBuffer.Entry e : batch) {
            out.add(e.line());
        }
        return out;
    }

    @Test
    void collidingPointsMergeAsInfluxDbStoresThemUnionLaterWins() {
        add(P0, 0, point("a", 1, "f", 1L, "h", 5L), 0);
        add(P0, 1, point("b", 1, "f", 9L), 0);
        PointBuffer.AddResult r = add(P1, 7, point("a", 1, "f", 2L, "g", 3L), 0);
        assertTrue(r.merged());
        assertFalse(r.collision(), "without disambiguation values a merge is not a collision");
        assertEquals(2, buffer.size());
        assertEquals(List.of("m,t=a f=2i,h=5i,g=3i 1", "m,t=b f=9i 1"), lines(buffer.nextBatch(10, 1_000_000)));
        assertEquals(3, buffer.nextBatch(10, 1_000_000).get(0).refs().size() + buffer.nextBatch(10, 1_000_000).get(1).refs().size());
        assertEquals("m,t=a f=2i,h=5i,g=3i 1\n".length() + "m,t=b f=9i 1\n".length(), buffer.bytes());
    }

    @Test
    void mergingPointsOfDifferentEventsIsACollision() {
        buffer.add(ref(P0, 0), new Point("m", Map.of(), Map.of("v", 1L), 5, "evt-1"), 0);
        PointBuffer.AddResult same = buffer.add(ref(P0, 1), new Point("m", Map.of(), Map.of("v", 1L), 5, "evt-1"), 0);
        assertTrue(same.merged());
        assertFalse(same.collision(), "a replay of the same event is not a collision");
        PointBuffer.AddResult other = buffer.add(ref(P0, 2), new Point("m", Map.of(), Map.of("v", 2L), 5, "evt-2"), 0);
        assertTrue(other.collision());
        assertEquals("evt-1", other.earlierDisambiguation());
        assertEquals("evt-2", other.laterDisambiguation());
    }

    @Test
    void batchesAreCutByCountAndByBytes() {
        for (int i = 0; i < 5; i++) {
            add(P0, i, point(null, i, "f", (long) i), 0);
        }
        int lineBytes = "m f=0i 0\n".length();
        assertEquals(List.of("m f=0i 0", "m f=1i 1"), lines(buffer.nextBatch(2, 1_000_000)));
        assertEquals(3, buffer.nextBatch(10, 3L * lineBytes).size());
        assertEquals(3, buffer.nextBatch(10, 3L * lineBytes + 1).size());
        assertEquals(1, buffer.nextBatch(10, 1).size(), "a point larger than the byte limit goes alone");
        assertTrue(buffer.ready(0, 5, Long.MAX_VALUE, 1_000), "count reached");
        assertFalse(buffer.ready(0, 6, Long.MAX_VALUE, 1_000));
        assertTrue(buffer.ready(0, 6, 5L * lineBytes, 1_000), "bytes reached");
        assertFalse(buffer.ready(0, 6, 5L * lineBytes + 1, 1_000));
    }

    @Test
    void lingerCountsFromTheOldestBufferedPoint() {
        assertFalse(buffer.ready(0, 10, 1_000_000, 100), "empty");
        add(P0, 0, point(null, 1, "f", 1L), 1_000);
        add(P0, 1, point(null, 2, "f", 1L), 1_050);
        assertFalse(buffer.ready(1_099, 10, 1_000_000, 100));
        assertEquals(1L, buffer.lingerRemaining(1_099, 100));
        assertTrue(buffer.ready(1_100, 10, 1_000_000, 100));
        assertEquals(0L, buffer.lingerRemaining(1_200, 100));
        buffer.complete(buffer.nextBatch(1, 1_000_000));
        assertEquals(50L, buffer.lingerRemaining(1_100, 100), "the next oldest point now sets the linger");
    }

    @Test
    void offsetsOnlyAdvancePastWrittenOrReportedRecords() {
        add(P0, 10, point("a", 1, "f", 1L), 0);
        add(P0, 11, point("b", 1, "f", 1L), 0);
        add(P1, 3, point("c", 1, "f", 1L), 0);
        assertEquals(offsets("t", 0, 10L, "t", 1, 3L), buffer.committable(offsets("t", 0, 12L, "t", 1, 4L)));
        buffer.complete(buffer.nextBatch(1, 1_000_000)); // m,t=a
        assertEquals(offsets("t", 0, 11L, "t", 1, 3L), buffer.committable(offsets("t", 0, 12L, "t", 1, 4L)));
        buffer.complete(buffer.nextBatch(2, 1_000_000));
        assertEquals(offsets("t", 0, 12L, "t", 1, 4L), buffer.committable(offsets("t", 0, 12L, "t", 1, 4L)));
    }

    @Test
    void aMergedPointHoldsBackEveryOffsetItStandsFor() {
        add(P0, 0, point("a", 1, "f", 1L), 0);
        add(P0, 1, point("b", 1, "f", 1L), 0);
        add(P0, 2, point("a", 1, "g", 1L), 0); // joins offset 0's point
        buffer.complete(List.of(buffer.nextBatch(2, 1_000_000).get(1))); // only m,t=b written
        assertEquals(offsets("t", 0, 0L), buffer.committable(offsets("t", 0, 3L)));
        buffer.complete(buffer.nextBatch(1, 1_000_000));
        assertEquals(offsets("t", 0, 3L), buffer.committable(offsets("t", 0, 3L)));
    }

    @Test
    void reportedRecordsStayPendingUntilTheReportIsAcknowledged() {
        PointBuffer.RecordRef r = ref(P0, 4);
        CompletableFuture<Void> ack = new CompletableFuture<>();
        buffer.reported(r, ack);
        assertEquals(offsets("t", 0, 4L), buffer.committable(offsets("t", 0, 5L)));
        ack.complete(null);
        assertEquals(offsets("t", 0, 5L), buffer.committable(offsets("t", 0, 5L)));
    }

    @Test
    void aReportThatFailedKeepsTheRecordPending() {
        CompletableFuture<Void> failed = new CompletableFuture<>();
        buffer.reported(ref(P0, 4), failed);
        failed.completeExceptionally(new IllegalStateException("DLQ topic unavailable"));
        assertEquals(offsets("t", 0, 4L), buffer.committable(offsets("t", 0, 5L)));
        assertEquals(offsets("t", 0, 4L), buffer.committable(offsets("t", 0, 5L)));
    }

    @Test
    void offsetsThatGoBackwardsArePendingAsOftenAsTheyAreAdded() {
        add(P0, 7, point("a", 1, "f", 1L), 0);
        add(P0, 7, point("b", 1, "f", 1L), 0); // a second point of the same record (line protocol value)
        add(P0, 2, point("c", 1, "f", 1L), 0); // the topic was recreated: offsets start again
        assertEquals(List.of(2L, 7L, 7L), buffer.pending(P0));
        assertEquals(offsets("t", 0, 2L), buffer.committable(offsets("t", 0, 8L)));
        buffer.complete(buffer.nextBatch(2, 1_000_000)); // both points of offset 7
        assertEquals(List.of(2L), buffer.pending(P0));
        assertEquals(offsets("t", 0, 2L), buffer.committable(offsets("t", 0, 3L)));
        buffer.complete(buffer.nextBatch(1, 1_000_000));
        assertEquals(offsets("t", 0, 3L), buffer.committable(offsets("t", 0, 3L)));
    }

    @Test
    void aHeldRecordIsNeverCommittable() {
        add(P0, 3, point("a", 1, "f", 1L), 0);
        buffer.hold(ref(P0, 1));
        buffer.complete(buffer.nextBatch(1, 1_000_000));
        assertEquals(offsets("t", 0, 1L), buffer.committable(offsets("t", 0, 4L)));
        assertEquals(offsets("t", 1, 9L), buffer.committable(offsets("t", 1, 9L)), "other partitions are not held back");
    }

    @Test
    void aTakenEntryKeepsItsRecordsPendingUntilEachIsDone() {
        add(P0, 0, point("a", 1, "f", 1L), 0);
        add(P0, 1, point("a", 1, "g", 2L), 0);
        PointBuffer.Entry merged = buffer.nextBatch(1, 1_000_000).get(0);
        assertEquals(2, merged.parts().size());
        assertTrue(buffer.take(merged));
        assertTrue(buffer.isEmpty());
        assertEquals(0L, buffer.bytes());
        buffer.done(merged.refs().get(1));
        assertEquals(offsets("t", 0, 0L), buffer.committable(offsets("t", 0, 2L)));
        buffer.done(merged.refs().get(0));
        assertEquals(offsets("t", 0, 2L), buffer.committable(offsets("t", 0, 2L)));
    }

    @Test
    void forgettingARevokedPartitionRebuildsSharedPoints() {
        add(P0, 0, point("a", 1, "f", 1L), 0);
        add(P1, 0, point("a", 1, "g", 2L), 50);
        add(P1, 1, point("b", 1, "h", 3L), 60);
        buffer.forget(List.of(P0));
        assertEquals(List.of("m,t=a g=2i 1", "m,t=b h=3i 1"), lines(buffer.nextBatch(10, 1_000_000)));
        assertEquals(50L, buffer.oldestAddedAt());
        assertEquals("m,t=a g=2i 1\n".length() + "m,t=b h=3i 1\n".length(), buffer.bytes());
        assertEquals(List.of(), buffer.pending(P0), "a revoked partition starts afresh when it comes back");
        buffer.forget(List.of(P1));
        assertTrue(buffer.isEmpty());
        assertEquals(0L, buffer.bytes());
    }
}
