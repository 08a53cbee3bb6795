package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Reads InfluxDB 1.x line protocol (records that already are line protocol, e.g. from Telegraf's Kafka output), as
 * InfluxDB 1.x would: one point per line; blank lines and comment lines (first non-blank character '#') are
 * skipped; a newline inside a double-quoted string field value belongs to the value. Escapes: a backslash before a
 * comma or space (measurement), before a comma, equals sign or space (tag keys, tag values, field keys), before a
 * double quote or backslash (string values) stands for that character; any other backslash is itself. Field values:
 * float ({@code 1}, {@code -1.5e3}), integer ({@code 1i}), boolean ({@code t}, {@code true}, {@code F}, ...), string.
 * Whatever does not parse raises a {@link MappingException} naming the line and the problem.
 */
final class LineProtocolParser {
    /** One parsed line; {@code time} is null when the line has none. */
    record Line(String measurement, TreeMap<String, String> tags, LinkedHashMap<String, Object> fields, Long time) {
    }

    private static final Pattern FLOAT = Pattern.compile("[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?");
    private static final Pattern INTEGER = Pattern.compile("[-+]?\\d+i");
    private static final Pattern TIME = Pattern.compile("-?\\d+");

    private final String line;
    private int pos;

    private LineProtocolParser(String line) {
        this.line = line;
    }

    /** @return the points of the text, in order; empty when it holds only blank and comment lines */
    static List<Line> parse(String text) {
        List<Line> lines = new ArrayList<>();
        for (String line : splitLines(text)) {
            String trimmed = trim(line);
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            lines.add(new LineProtocolParser(trimmed).line());
        }
        return lines;
    }

    /** Splits on newlines outside double-quoted string values; a "\r" before a newline is dropped. */
    static List<String> splitLines(String text) {
        List<String> out = new ArrayList<>();
        boolean quoted = false;
        boolean inFields = false;
        int start = 0;
        int spaces = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '\\' && i + 1 < text.length() && text.charAt(i + 1) != '\n') {
                i++;
                continue;
            }
            if (c == ' ' && !quoted) {
                spaces++;
                inFields = spaces == 1;
            } else if (c == '"' && inFields) {
                quoted = !quoted;
            } else if (c == '\n' && !quoted) {
                out.add(stripCr(text.substring(start, i)));
                start = i + 1;
                spaces = 0;
                inFields = false;
            }
        }
        out.add(stripCr(text.substring(start)));
        return out;
    }

    /** Drops what InfluxDB 1.x skips before a line (space, TAB, NUL) and trailing spaces and TABs. */
    private static String trim(String s) {
        int from = 0;
        while (from < s.length() && (s.charAt(from) == ' ' || s.charAt(from) == '\t' || s.charAt(from) == '\0')) {
            from++;
        }
        int to = s.length();
        while (to > from && (s.charAt(to - 1) == ' ' || s.charAt(to - 1) == '\t') && (to < 2 || s.charAt(to - 2) != '\\')) {
            to--;
        }
        return s.substring(from, to);
    }

    private static String stripCr(String s) {
        return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
    }

    private Line line() {
        String measurement = name(true, false);
        if (measurement.isEmpty()) {
            throw problem("no measurement");
        }
        TreeMap<String, String> tags = new TreeMap<>();
        while (pos < line.length() && line.charAt(pos) == ',') {
            pos++;
            String key = name(false, true);
            expect('=', "tag '" + key + "' has no value");
            String value = name(false, true);
            if (key.isEmpty() || value.isEmpty()) {
                throw problem("empty tag key or value");
            }
            tags.put(key, value);
        }
        expect(' ', "no field set after the series");
        LinkedHashMap<String, Object> fields = new LinkedHashMap<>();
        do {
            String key = name(false, true);
            if (key.isEmpty()) {
                throw problem("empty field key");
            }
            expect('=', "field '" + key + "' has no value");
            if (fields.put(key, value(key)) != null) {
                throw problem("field '" + key + "' occurs twice");
            }
        } while (pos < line.length() && line.charAt(pos) == ',' && ++pos > 0);
        Long time = null;
        if (pos < line.length()) {
            expect(' ', "unexpected text after the fields");
            String t = line.substring(pos).strip();
            if (!TIME.matcher(t).matches()) {
                throw problem("timestamp '" + t + "' is not an integer");
            }
            try {
                time = Long.parseLong(t);
            } catch (NumberFormatException e) {
                throw problem("timestamp '" + t + "' is out of range");
            }
        }
        return new Line(measurement, tags, fields, time);
    }

    /** Reads a measurement (stops at unescaped comma or space) or key/value (also stops at unescaped '='). */
    private String name(boolean measurement, boolean stopAtEquals) {
        StringBuilder sb = new StringBuilder();
        while (pos < line.length()) {
            char c = line.charAt(pos);
            if (c == ',' || c == ' ' || (stopAtEquals && c == '=')) {
                break;
            }
            if (c == '\\' && pos + 1 < line.length()) {
                char next = line.charAt(pos + 1);
                if (next == ',' || next == ' ' || (!measurement && next == '=')) {
                    sb.append(next);
                    pos += 2;
                    continue;
                }
            }
            sb.append(c);
            pos++;
        }
        return sb.toString();
    }

    private Object value(String key) {
        if (pos < line.length() && line.charAt(pos) == '"') {
            StringBuilder sb = new StringBuilder();
            pos++;
            while (pos < line.length()) {
                char c = line.charAt(pos);
                if (c == '\\' && pos + 1 < line.length() && (line.charAt(pos + 1) == '"' || line.charAt(pos + 1) == '\\')) {
                    sb.append(line.charAt(pos + 1));
                    pos += 2;
                    continue;
                }
                if (c == '"') {
                    pos++;
                    return sb.toString();
                }
                sb.append(c);
                pos++;
            }
            throw problem("string field '" + key + "' is not closed");
        }
        int start = pos;
        while (pos < line.length() && line.charAt(pos) != ',' && line.charAt(pos) != ' ') {
            pos++;
        }
        String v = line.substring(start, pos);
        switch (v) {
            case "t", "T", "true", "True", "TRUE" -> {
                return Boolean.TRUE;
            }
            case "f", "F", "false", "False", "FALSE" -> {
                return Boolean.FALSE;
            }
            default -> {
                // a number
            }
        }
        try {
            if (INTEGER.matcher(v).matches()) {
                return Long.parseLong(v.substring(0, v.length() - 1));
            }
            if (FLOAT.matcher(v).matches()) {
                double d = Double.parseDouble(v);
                if (Double.isFinite(d)) {
                    return d;
                }
            }
        } catch (NumberFormatException e) {
            throw problem("field '" + key + "' value '" + v + "' is out of range");
        }
        throw problem("field '" + key + "' has an invalid value '" + v + "' (float, integer with i, boolean or double-quoted string"
                + (v.endsWith("u") ? "; unsigned integers are not supported by InfluxDB 1.x" : "") + ")");
    }

    private void expect(char c, String problem) {
        if (pos >= line.length() || line.charAt(pos) != c) {
            throw problem(problem);
        }
        pos++;
    }

    private MappingException problem(String what) {
        String shown = line.length() > 200 ? line.substring(0, 200) + "..." : line;
        return new MappingException("invalid line protocol (" + what + " at character " + (pos + 1) + "): " + shown);
    }
}
