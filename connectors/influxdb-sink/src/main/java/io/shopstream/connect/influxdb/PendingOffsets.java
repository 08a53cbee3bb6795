package io.shopstream.connect.influxdb;

import java.util.Arrays;
import java.util.function.LongConsumer;

/**
 * The pending offsets of one partition as a multiset (an offset is pending as often as it was added and not yet
 * removed), kept sorted in two arrays: offsets almost always arrive in increasing order, so adding appends, removing
 * is a binary search, and the lowest pending offset is at the front. Offsets that go backwards (a recreated topic, a
 * reset) are inserted in order. No allocation per offset. Not thread-safe.
 */
final class PendingOffsets {
    private long[] offsets = new long[64];
    private int[] counts = new int[64];
    private int head; // [head, tail) holds distinct offsets, ascending; counts of 0 are kept until compaction
    private int tail;

    void add(long offset) {
        if (tail > head && offsets[tail - 1] == offset) {
            counts[tail - 1]++;
            return;
        }
        int i = tail == head || offsets[tail - 1] < offset ? -tail - 1 : Arrays.binarySearch(offsets, head, tail, offset);
        if (i >= 0) {
            counts[i]++;
            return;
        }
        if (tail == offsets.length) {
            makeRoom();
            i = Arrays.binarySearch(offsets, head, tail, offset); // the compaction moved the offsets
        }
        int at = -i - 1;
        System.arraycopy(offsets, at, offsets, at + 1, tail - at);
        System.arraycopy(counts, at, counts, at + 1, tail - at);
        offsets[at] = offset;
        counts[at] = 1;
        tail++;
    }

    /** Removes one occurrence of the offset; nothing when it is not pending. */
    void remove(long offset) {
        int i = Arrays.binarySearch(offsets, head, tail, offset);
        if (i < 0 || counts[i] == 0) {
            return;
        }
        counts[i]--;
        while (head < tail && counts[head] == 0) {
            head++;
        }
        if (head == tail) {
            head = 0;
            tail = 0;
        }
    }

    boolean isEmpty() {
        return head == tail;
    }

    /** @return the lowest pending offset (the set must not be empty) */
    long first() {
        return offsets[head];
    }

    /** Passes each pending offset, lowest first, as often as it is pending. */
    void forEach(LongConsumer action) {
        for (int i = head; i < tail; i++) {
            for (int n = 0; n < counts[i]; n++) {
                action.accept(offsets[i]);
            }
        }
    }

    /** Makes room for one more offset: drops the emptied front and offsets no longer pending, else grows. */
    private void makeRoom() {
        int live = 0;
        for (int i = head; i < tail; i++) {
            if (counts[i] > 0) {
                offsets[live] = offsets[i];
                counts[live++] = counts[i];
            }
        }
        head = 0;
        tail = live;
        if (tail > offsets.length / 2) {
            offsets = Arrays.copyOf(offsets, offsets.length * 2);
            counts = Arrays.copyOf(counts, counts.length * 2);
        }
    }
}
