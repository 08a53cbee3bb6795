package io.shopstream.connect.influxdb;

import java.nio.charset.StandardCharsets;
import java.security.DigestException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The offset {@code event.time.disambiguate.field} adds below the event time's unit: the first 8 bytes of SHA-256 of
 * the value's UTF-8 bytes, as an unsigned big-endian number, modulo the number of slots. SHA-256 runs on the CPU's
 * SHA extensions where present (a JDK intrinsic); the buffers are reused, so nothing is allocated for an ASCII value.
 * Not thread-safe.
 */
final class EventTimeOffset {
    private final MessageDigest sha256;
    private final byte[] digest = new byte[32];
    private byte[] utf8 = new byte[64];

    EventTimeOffset() {
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    /** @return a stable offset in [0, slots) */
    long of(String value, long slots) {
        byte[] bytes = utf8;
        int n = value.length();
        if (n > bytes.length) {
            bytes = utf8 = new byte[Math.max(n, bytes.length * 2)];
        }
        for (int i = 0; i < n; i++) {
            char c = value.charAt(i);
            if (c >= 0x80) { // not ASCII: let the JDK encode it
                bytes = value.getBytes(StandardCharsets.UTF_8);
                n = bytes.length;
                break;
            }
            bytes[i] = (byte) c;
        }
        sha256.update(bytes, 0, n);
        try {
            sha256.digest(digest, 0, digest.length); // also resets it
        } catch (DigestException e) {
            throw new IllegalStateException("a 32-byte buffer holds a SHA-256 digest", e);
        }
        long h = 0;
        for (int i = 0; i < 8; i++) {
            h = h << 8 | (digest[i] & 0xFF);
        }
        return Long.remainderUnsigned(h, slots);
    }
}
