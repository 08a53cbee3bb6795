package io.shopstream.connect.influxdb;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The InfluxDB 1.x line protocol encoder, exact, writing UTF-8 bytes straight into a reusable {@link LineBuffer} (no
 * intermediate strings). Each element has its own escaping rules:
 * <ul>
 *   <li>measurement: comma and space are escaped with a backslash;</li>
 *   <li>tag keys, tag values, field keys: comma, equals sign and space are escaped;</li>
 *   <li>string field values: double quote and backslash are escaped, the value is double-quoted.</li>
 * </ul>
 * What line protocol cannot express never reaches the encoder: {@link Point} refuses it ({@link LineProtocolRules}).
 */
public final class LineProtocol {
    private LineProtocol() {
    }

    /** A growable byte buffer holding one encoded line (without newline); reused from line to line. */
    public static final class LineBuffer {
        private byte[] bytes = new byte[256];
        private int length;
        private int seriesLength;

        /** @return the buffer; bytes [0, {@link #length()}) are the line */
        public byte[] bytes() {
            return bytes;
        }

        public int length() {
            return length;
        }

        /** @return the length of the series part: escaped measurement and sorted tag set, before the first space */
        public int seriesLength() {
            return seriesLength;
        }

        /** @return the line as an array of its own */
        public byte[] copy() {
            return Arrays.copyOf(bytes, length);
        }

        @Override
        public String toString() {
            return new String(bytes, 0, length, StandardCharsets.UTF_8);
        }

        private void ensure(int more) {
            if (length + more > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, length + more));
            }
        }

        private void put(char ascii) {
            ensure(1);
            bytes[length++] = (byte) ascii;
        }

        private void putAscii(String s) {
            ensure(s.length());
            for (int i = 0; i < s.length(); i++) {
                bytes[length++] = (byte) s.charAt(i);
            }
        }

        private void putLong(long v) {
            if (v == Long.MIN_VALUE) {
                putAscii("-9223372036854775808");
                return;
            }
            ensure(20);
            if (v < 0) {
                bytes[length++] = '-';
                v = -v;
            }
            int digits = 1;
            for (long t = v; t >= 10; t /= 10) {
                digits++;
            }
            for (int i = length + digits - 1; i >= length; i--) {
                bytes[i] = (byte) ('0' + v % 10);
                v /= 10;
            }
            length += digits;
        }

        /** Appends the text as UTF-8, a backslash before each ASCII character the table marks. */
        private void putText(String s, boolean[] escaped) {
            ensure(s.length() * 3); // UTF-8 needs at most 3 bytes per char (4 per surrogate pair), an escape 2
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c < 0x80) {
                    if (escaped[c]) {
                        bytes[length++] = '\\';
                    }
                    bytes[length++] = (byte) c;
                } else {
                    i = putNonAscii(s, i, c);
                }
            }
        }

        private int putNonAscii(String s, int i, char c) {
            if (c < 0x800) {
                bytes[length++] = (byte) (0xC0 | c >> 6);
                bytes[length++] = (byte) (0x80 | c & 0x3F);
                return i;
            }
            if (Character.isSurrogate(c)) {
                int cp = s.codePointAt(i); // a pair: Point refuses lone surrogates
                bytes[length++] = (byte) (0xF0 | cp >> 18);
                bytes[length++] = (byte) (0x80 | cp >> 12 & 0x3F);
                bytes[length++] = (byte) (0x80 | cp >> 6 & 0x3F);
                bytes[length++] = (byte) (0x80 | cp & 0x3F);
                return i + 1;
            }
            bytes[length++] = (byte) (0xE0 | c >> 12);
            bytes[length++] = (byte) (0x80 | c >> 6 & 0x3F);
            bytes[length++] = (byte) (0x80 | c & 0x3F);
            return i;
        }
    }

    /** Which ASCII characters each element escapes with a backslash. */
    private static final boolean[] MEASUREMENT = escapes(", ");
    private static final boolean[] NAME = escapes(", =");
    private static final boolean[] STRING = escapes("\"\\");

    private static boolean[] escapes(String chars) {
        boolean[] table = new boolean[128];
        for (char c : chars.toCharArray()) {
            table[c] = true;
        }
        return table;
    }

    /** Encodes the point's line (without newline) into {@code out}, replacing what it held. */
    public static void encode(Point point, LineBuffer out) {
        out.length = 0;
        out.putText(point.measurement(), MEASUREMENT);
        for (int i = 0; i < point.tagCount(); i++) {
            out.put(',');
            out.putText(point.tagKey(i), NAME);
            out.put('=');
            out.putText(point.tagValue(i), NAME);
        }
        out.seriesLength = out.length;
        for (int i = 0; i < point.fieldCount(); i++) {
            out.put(i == 0 ? ' ' : ',');
            out.putText(point.fieldKey(i), NAME);
            out.put('=');
            putValue(out, point.fieldValue(i));
        }
        out.put(' ');
        out.putLong(point.time());
    }

    /** @return the line for the point, without the trailing newline */
    public static String encode(Point point) {
        LineBuffer out = new LineBuffer();
        encode(point, out);
        return out.toString();
    }

    private static void putValue(LineBuffer out, Object value) {
        if (value instanceof Long l) {
            out.putLong(l);
            out.put('i');
        } else if (value instanceof Double d) {
            out.putAscii(formatDouble(d));
        } else if (value instanceof Boolean b) {
            out.putAscii(b ? "true" : "false");
        } else if (value instanceof String s) {
            out.put('"');
            out.putText(s, STRING);
            out.put('"');
        } else {
            throw new IllegalArgumentException("unsupported field value " + value);
        }
    }

    /** @return the measurement with comma and space escaped (the measurement must have passed the check) */
    public static String escapeMeasurement(String measurement) {
        return escaped(measurement, MEASUREMENT);
    }

    /** @return a tag key, tag value or field key with comma, equals sign and space escaped */
    public static String escapeName(String name) {
        return escaped(name, NAME);
    }

    /** @return a string field value, double-quoted, with double quote and backslash escaped */
    public static String quoteString(String value) {
        return '"' + escaped(value, STRING) + '"';
    }

    private static String escaped(String s, boolean[] escape) {
        LineBuffer out = new LineBuffer();
        out.putText(s, escape);
        return out.toString();
    }

    /** @return the float as line protocol writes it: {@link Double#toString}, which InfluxDB parses back exactly */
    public static String formatDouble(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("line protocol has no literal for " + value);
        }
        return Double.toString(value);
    }
}
