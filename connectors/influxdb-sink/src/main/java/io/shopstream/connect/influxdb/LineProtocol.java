package io.shopstream.connect.influxdb;

import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * InfluxDB 1.x line protocol, exact. Each element has its own escaping rules:
 * <ul>
 *   <li>measurement: comma and space are escaped with a backslash;</li>
 *   <li>tag keys, tag values, field keys: comma, equals sign and space are escaped;</li>
 *   <li>string field values: double quote and backslash are escaped, the value is double-quoted.</li>
 * </ul>
 * What line protocol cannot express is refused with a {@link MappingException} (an error record, never silently
 * altered data):
 * <ul>
 *   <li>an empty name, or a newline (\n or \r) in a measurement, tag key, tag value or field key;</li>
 *   <li>a backslash at the end of a name, or followed by a comma, space, equals sign or double quote: InfluxDB 1.x
 *       does not unescape backslashes in names, and 1.6.7 was seen to drop or misparse such names (see README);</li>
 *   <li>the key {@code time} (InfluxDB 1.6.7 rejects such a tag and silently drops such a field);</li>
 *   <li>a measurement starting with '#' (InfluxDB reads the line as a comment), TAB or NUL (stripped by InfluxDB);</li>
 *   <li>a lone UTF-16 surrogate anywhere, string field values included (UTF-8 cannot encode it).</li>
 * </ul>
 * A newline inside a string field value is written as is: InfluxDB 1.6.7 parses quoted strings across newlines and
 * stores the value unchanged (observed, see README).
 */
public final class LineProtocol {
    private LineProtocol() {
    }

    /**
     * @throws MappingException when the measurement cannot be expressed: besides the rules of every name, InfluxDB 1.x
     *                          reads a line starting with '#' as a comment (dropped, yet answered 204) and strips a
     *                          leading TAB or NUL (the point would be stored under another name)
     */
    public static void checkMeasurement(String measurement) {
        checkCommon("measurement", measurement);
        char first = measurement.charAt(0);
        if (first == '#') {
            throw new MappingException("measurement " + quote(measurement) + " starts with '#': InfluxDB 1.x reads such a line as a "
                    + "comment and drops it");
        }
        if (first == '\t' || first == '\0') {
            throw new MappingException("measurement " + quote(measurement) + " starts with a " + (first == '\t' ? "TAB" : "NUL")
                    + ", which InfluxDB 1.x strips from the line (the point would be stored under another name)");
        }
    }

    /**
     * @throws MappingException when the text holds a lone UTF-16 surrogate, which UTF-8 cannot encode (Java would
     *                          silently write '?' instead)
     */
    public static void checkText(String what, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new MappingException(what + " " + quote(s) + " holds a lone UTF-16 surrogate (U+"
                        + Integer.toHexString(c).toUpperCase(java.util.Locale.ROOT) + " at index " + i + "), which UTF-8 cannot encode");
            }
        }
    }

    /**
     * @param what "tag key", "tag value" or "field key"
     * @throws MappingException when the name cannot be expressed
     */
    public static void checkName(String what, String name) {
        checkCommon(what, name);
        if (!what.equals("tag value") && name.equals("time")) {
            throw new MappingException("'time' cannot be used as a " + what + " (InfluxDB reserves it for the timestamp)");
        }
    }

    private static void checkCommon(String what, String s) {
        if (s == null || s.isEmpty()) {
            throw new MappingException("empty " + what);
        }
        checkText(what, s);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\n' || c == '\r') {
                throw new MappingException(what + " " + quote(s) + " contains a newline, which line protocol cannot express");
            }
            if (c == '\\') {
                char next = i + 1 < s.length() ? s.charAt(i + 1) : 0;
                if (next == 0 || next == ',' || next == ' ' || next == '=' || next == '"') {
                    throw new MappingException(what + " " + quote(s) + " has a backslash "
                            + (next == 0 ? "at its end" : "before '" + next + "'")
                            + ", which InfluxDB 1.x line protocol cannot express unambiguously");
                }
            }
        }
    }

    /** @return the measurement with comma and space escaped (the measurement must have passed the check) */
    public static String escapeMeasurement(String measurement) {
        StringBuilder sb = new StringBuilder(measurement.length() + 8);
        appendEscaped(sb, measurement, false);
        return sb.toString();
    }

    /** @return a tag key, tag value or field key with comma, equals sign and space escaped */
    public static String escapeName(String name) {
        StringBuilder sb = new StringBuilder(name.length() + 8);
        appendEscaped(sb, name, true);
        return sb.toString();
    }

    /** @return a string field value, double-quoted, with double quote and backslash escaped */
    public static String quoteString(String value) {
        StringBuilder sb = new StringBuilder(value.length() + 8);
        appendString(sb, value);
        return sb.toString();
    }

    /** @return the float as line protocol writes it: {@link Double#toString}, which InfluxDB parses back exactly */
    public static String formatDouble(double value) {
        if (!Double.isFinite(value)) {
            throw new IllegalArgumentException("line protocol has no literal for " + value);
        }
        return Double.toString(value);
    }

    /** @return the line for the point, without the trailing newline */
    public static String encode(Point point) {
        StringBuilder sb = new StringBuilder(256);
        appendSeries(sb, point);
        sb.append(' ');
        boolean first = true;
        for (Map.Entry<String, Object> field : point.fields().entrySet()) {
            if (!first) {
                sb.append(',');
            }
            first = false;
            appendEscaped(sb, field.getKey(), true);
            sb.append('=');
            appendValue(sb, field.getValue());
        }
        sb.append(' ').append(point.time());
        return sb.toString();
    }

    /** @return the identity of the point in InfluxDB: escaped measurement, sorted tag set and time */
    public static String seriesTimeKey(Point point) {
        StringBuilder sb = new StringBuilder(64);
        appendSeries(sb, point);
        sb.append(' ').append(point.time());
        return sb.toString();
    }

    /** @return the UTF-8 size of the encoded line plus its newline */
    public static int lineBytes(String line) {
        int n = 0;
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < line.length() && Character.isLowSurrogate(line.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += 3;
            }
        }
        return n + 1;
    }

    /** @return the lines joined by newlines (each line terminated), UTF-8 encoded */
    public static byte[] body(Iterable<String> lines) {
        int size = 0;
        for (String line : lines) {
            size += line.length() + 1;
        }
        StringBuilder sb = new StringBuilder(size);
        for (String line : lines) {
            sb.append(line).append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void appendSeries(StringBuilder sb, Point point) {
        appendEscaped(sb, point.measurement(), false);
        for (Map.Entry<String, String> tag : point.tags().entrySet()) {
            sb.append(',');
            appendEscaped(sb, tag.getKey(), true);
            sb.append('=');
            appendEscaped(sb, tag.getValue(), true);
        }
    }

    private static void appendValue(StringBuilder sb, Object value) {
        if (value instanceof Long) {
            sb.append(((Long) value).longValue()).append('i');
        } else if (value instanceof Double) {
            sb.append(formatDouble((Double) value));
        } else if (value instanceof Boolean) {
            sb.append(((Boolean) value) ? "true" : "false");
        } else if (value instanceof String) {
            appendString(sb, (String) value);
        } else {
            throw new IllegalArgumentException("unsupported field value " + value);
        }
    }

    private static void appendEscaped(StringBuilder sb, String s, boolean escapeEquals) {
        int first = 0;
        while (first < s.length()) { // most names need no escape: append them whole
            char c = s.charAt(first);
            if (c == ',' || c == ' ' || (escapeEquals && c == '=')) {
                break;
            }
            first++;
        }
        sb.append(s, 0, first); // the part needing no escape, in one bulk copy
        for (int i = first; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == ',' || c == ' ' || (escapeEquals && c == '=')) {
                sb.append('\\');
            }
            sb.append(c);
        }
    }

    private static void appendString(StringBuilder sb, String s) {
        sb.append('"');
        int first = 0;
        while (first < s.length() && s.charAt(first) != '"' && s.charAt(first) != '\\') {
            first++;
        }
        sb.append(s, 0, first); // the part needing no escape, in one bulk copy
        for (int i = first; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                sb.append('\\');
            }
            sb.append(c);
        }
        sb.append('"');
    }

    private static String quote(String s) {
        String shown = s.length() > 80 ? s.substring(0, 80) + "..." : s;
        StringBuilder sb = new StringBuilder("'");
        for (int i = 0; i < shown.length(); i++) {
            char c = shown.charAt(i);
            if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (c < 0x20 || Character.isSurrogate(c)) {
                sb.append(String.format("\\u%04X", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('\'').toString();
    }
}
