package io.shopstream.connect.influxdb;

import java.util.Locale;

/**
 * What InfluxDB 1.x line protocol can express, checked before a point exists (a {@link Point} is always writable).
 * What it cannot express is refused with a {@link MappingException} (an error record, never silently altered data):
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
public final class LineProtocolRules {
    private LineProtocolRules() {
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
    private static void checkText(String what, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (Character.isSurrogate(s.charAt(i))) {
                i = checkSurrogate(what, s, i);
            }
        }
    }

    /** @throws MappingException when the string field's value holds a lone UTF-16 surrogate (see {@link #checkText}) */
    public static void checkStringField(String key, String value) {
        for (int i = 0; i < value.length(); i++) {
            if (Character.isSurrogate(value.charAt(i))) {
                checkText("string field '" + key + "'", value); // the message is made only for a value that may need it
                return;
            }
        }
    }

    /**
     * @param what "tag key", "tag value" or "field key"
     * @throws MappingException when the name cannot be expressed
     */
    public static void checkName(String what, String name) {
        checkCommon(what, name);
        if (name.equals("time") && !what.equals("tag value")) {
            throw new MappingException("'time' cannot be used as a " + what + " (InfluxDB reserves it for the timestamp)");
        }
    }

    /** One pass over the name: most characters are plain and cost one comparison. */
    private static void checkCommon(String what, String s) {
        if (s == null || s.isEmpty()) {
            throw new MappingException("empty " + what);
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c > '\\' && c < Character.MIN_SURROGATE || c > '\r' && c < '\\') {
                continue; // neither a newline, a backslash nor a surrogate
            }
            if (Character.isSurrogate(c)) {
                i = checkSurrogate(what, s, i);
            } else if (c == '\n' || c == '\r') {
                throw new MappingException(what + " " + quote(s) + " contains a newline, which line protocol cannot express");
            } else if (c == '\\') {
                char next = i + 1 < s.length() ? s.charAt(i + 1) : 0;
                if (next == 0 || next == ',' || next == ' ' || next == '=' || next == '"') {
                    throw new MappingException(what + " " + quote(s) + " has a backslash "
                            + (next == 0 ? "at its end" : "before '" + next + "'")
                            + ", which InfluxDB 1.x line protocol cannot express unambiguously");
                }
            }
        }
    }

    /** @return the index of the pair's low surrogate; throws for a lone surrogate at {@code i} */
    private static int checkSurrogate(String what, String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
            return i + 1;
        }
        throw new MappingException(what + " " + quote(s) + " holds a lone UTF-16 surrogate (U+"
                + Integer.toHexString(c).toUpperCase(Locale.ROOT) + " at index " + i + "), which UTF-8 cannot encode");
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
