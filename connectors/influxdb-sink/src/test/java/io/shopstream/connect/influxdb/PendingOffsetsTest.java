package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

class PendingOffsetsTest {
    private static List<Long> list(PendingOffsets p) {
        List<Long> out = new ArrayList<>();
        p.forEach(out::add);
        return out;
    }

    @Test
    void aMultisetLowestFirstWithOffsetsGoingBackwards() {
        PendingOffsets p = new PendingOffsets();
        p.add(10);
        p.add(11);
        p.add(11);
        p.add(3); // a recreated topic: offsets start again
        p.add(12);
        assertEquals(List.of(3L, 10L, 11L, 11L, 12L), list(p));
        assertEquals(3L, p.first());
        p.remove(3);
        p.remove(11);
        p.remove(99); // not pending: nothing
        assertEquals(List.of(10L, 11L, 12L), list(p));
        p.remove(10);
        assertEquals(11L, p.first());
        p.remove(11);
        p.remove(12);
        assertTrue(p.isEmpty());
    }

    @Test
    void behavesLikeASortedMultisetUnderRandomUse() {
        Random random = new Random(7);
        PendingOffsets p = new PendingOffsets();
        TreeMap<Long, Integer> model = new TreeMap<>();
        long next = 0;
        for (int step = 0; step < 20_000; step++) {
            int op = random.nextInt(10);
            if (op < 5) {
                long offset = random.nextInt(20) == 0 ? random.nextInt(1_000) : next++; // mostly in order, sometimes back
                p.add(offset);
                model.merge(offset, 1, Integer::sum);
            } else if (!model.isEmpty()) {
                long offset = op < 8 ? model.firstKey() : model.ceilingKey((long) random.nextInt((int) Math.max(1, next)) - 1) == null
                        ? model.lastKey() : model.ceilingKey((long) random.nextInt((int) Math.max(1, next)) - 1);
                p.remove(offset);
                model.computeIfPresent(offset, (o, n) -> n == 1 ? null : n - 1);
            }
            assertEquals(model.isEmpty(), p.isEmpty());
            if (!model.isEmpty()) {
                assertEquals(model.firstKey(), p.first());
            }
        }
        List<Long> expected = new ArrayList<>();
        model.forEach((o, n) -> {
            for (int i = 0; i < n; i++) {
                expected.add(o);
            }
        });
        assertEquals(expected, list(p));
    }
}
