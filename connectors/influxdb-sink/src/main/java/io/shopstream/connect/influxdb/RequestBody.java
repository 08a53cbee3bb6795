package io.shopstream.connect.influxdb;

import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * The body of a write request: lines joined by newlines, gzip-compressed when asked, built in buffers that are reused
 * from request to request (one task thread writes). A batch so allocates no large arrays, which in a worker's heap of
 * a few hundred MiB to a few GiB would be G1 "humongous" objects, each costing an old-generation region.
 */
final class RequestBody {
    private static final byte[] GZIP_HEADER = {0x1f, (byte) 0x8b, Deflater.DEFLATED, 0, 0, 0, 0, 0, 0, 0};

    private byte[] raw = new byte[64 * 1024];
    private byte[] gzipped = new byte[16 * 1024];
    private final Deflater deflater;
    private final CRC32 crc = new CRC32();
    private int rawLength;
    private int length;

    /** @param gzipLevel the deflate level, or 0 for no compression */
    RequestBody(int gzipLevel) {
        this.deflater = gzipLevel > 0 ? new Deflater(gzipLevel, true) : null;
    }

    /** Builds the body of lines [from, to) of the list (UTF-8), each followed by a newline. */
    void fill(List<byte[]> lines, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            byte[] line = lines.get(i);
            if (n + line.length + 1 > raw.length) {
                raw = Arrays.copyOf(raw, Math.max(raw.length * 2, n + line.length + 1));
            }
            System.arraycopy(line, 0, raw, n, line.length);
            n += line.length;
            raw[n++] = '\n';
        }
        rawLength = n;
        length = deflater == null ? n : gzip();
    }

    boolean gzipped() {
        return deflater != null;
    }

    /** @return the body as sent: bytes [0, {@link #length()}) */
    byte[] bytes() {
        return deflater == null ? raw : gzipped;
    }

    /** @return the bytes sent (compressed when gzip is on) */
    int length() {
        return length;
    }

    /** @return the uncompressed bytes of the lines */
    int rawLength() {
        return rawLength;
    }

    /** The request got no answer: its exchange may still read the buffers, so the next request gets new ones. */
    void abandon() {
        raw = new byte[raw.length];
        gzipped = new byte[gzipped.length];
    }

    /** Frees the deflater's native memory; the body is not used afterwards. */
    void close() {
        if (deflater != null) {
            deflater.end();
        }
    }

    /** A gzip member as {@link java.util.zip.GZIPOutputStream} writes it: 10-byte header, raw deflate, CRC-32, size. */
    private int gzip() {
        System.arraycopy(GZIP_HEADER, 0, gzipped, 0, GZIP_HEADER.length);
        int n = GZIP_HEADER.length;
        deflater.reset();
        deflater.setInput(raw, 0, rawLength);
        deflater.finish();
        while (!deflater.finished()) {
            if (n == gzipped.length) {
                gzipped = Arrays.copyOf(gzipped, gzipped.length * 2);
            }
            n += deflater.deflate(gzipped, n, gzipped.length - n);
        }
        crc.reset();
        crc.update(raw, 0, rawLength);
        if (n + 8 > gzipped.length) {
            gzipped = Arrays.copyOf(gzipped, n + 8);
        }
        writeIntLe(gzipped, n, (int) crc.getValue());
        writeIntLe(gzipped, n + 4, rawLength);
        return n + 8;
    }

    private static void writeIntLe(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
        b[at + 2] = (byte) (v >>> 16);
        b[at + 3] = (byte) (v >>> 24);
    }
}
