package io.shopstream.connect.influxdb;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One InfluxDB point: measurement, tag set (sorted by key), fields (in insertion order) and a time in the write
 * precision. Field values are {@link Long} (integer), {@link Double} (float), {@link Boolean} or {@link String}.
 * Immutable, and always expressible in line protocol: the constructor checks it ({@link LineProtocolRules}). Held as
 * arrays: the mapper makes one per record.
 */
public final class Point {
    private final String measurement;
    private final String[] tagKeys; // sorted, distinct
    private final String[] tagValues;
    private final String[] fieldKeys; // insertion order, distinct
    private final Object[] fieldValues;
    private final long time;
    private final String disambiguation;

    /**
     * @param disambiguation the value of {@code event.time.disambiguate.field} that shaped the time, or null
     * @throws MappingException when line protocol cannot express the point (see {@link LineProtocolRules}) or it has
     *                          no field
     */
    public Point(String measurement, Map<String, String> tags, Map<String, Object> fields, long time, String disambiguation) {
        this(measurement, sortedKeys(tags), sortedValues(tags), fields.keySet().toArray(new String[0]), fields.values().toArray(),
                time, disambiguation);
    }

    /**
     * A point that keeps the given arrays (the caller must not change them afterwards); checked like any other.
     *
     * @param tagKeys sorted and distinct
     * @param fieldKeys distinct
     */
    Point(String measurement, String[] tagKeys, String[] tagValues, String[] fieldKeys, Object[] fieldValues, long time,
          String disambiguation) {
        this.measurement = Objects.requireNonNull(measurement, "measurement");
        this.tagKeys = tagKeys;
        this.tagValues = tagValues;
        this.fieldKeys = fieldKeys;
        this.fieldValues = fieldValues;
        this.time = time;
        this.disambiguation = disambiguation;
        check();
    }

    private void check() {
        LineProtocolRules.checkMeasurement(measurement);
        for (int i = 0; i < tagKeys.length; i++) {
            LineProtocolRules.checkName("tag key", tagKeys[i]);
            LineProtocolRules.checkName("tag value", tagValues[i]);
        }
        if (fieldKeys.length == 0) {
            throw new MappingException("the point has no field (line protocol needs at least one)");
        }
        for (int i = 0; i < fieldKeys.length; i++) {
            LineProtocolRules.checkName("field key", fieldKeys[i]);
            Object v = fieldValues[i];
            if (v instanceof String text) {
                LineProtocolRules.checkStringField(fieldKeys[i], text);
            } else if (v instanceof Double d) {
                if (!Double.isFinite(d)) {
                    throw new IllegalArgumentException("non-finite float in field " + fieldKeys[i]);
                }
            } else if (!(v instanceof Long || v instanceof Boolean)) {
                throw new IllegalArgumentException("unsupported field value type " + (v == null ? "null" : v.getClass().getName()));
            }
        }
    }

    private static String[] sortedKeys(Map<String, String> tags) {
        return new TreeMap<>(tags).keySet().toArray(new String[0]);
    }

    private static String[] sortedValues(Map<String, String> tags) {
        return new TreeMap<>(tags).values().toArray(new String[0]);
    }

    public String measurement() {
        return measurement;
    }

    /** @return tags sorted by key (a copy) */
    public SortedMap<String, String> tags() {
        TreeMap<String, String> tags = new TreeMap<>();
        for (int i = 0; i < tagKeys.length; i++) {
            tags.put(tagKeys[i], tagValues[i]);
        }
        return Collections.unmodifiableSortedMap(tags);
    }

    /** @return fields in insertion order (a copy) */
    public Map<String, Object> fields() {
        Map<String, Object> fields = new LinkedHashMap<>();
        for (int i = 0; i < fieldKeys.length; i++) {
            fields.put(fieldKeys[i], fieldValues[i]);
        }
        return Collections.unmodifiableMap(fields);
    }

    int tagCount() {
        return tagKeys.length;
    }

    String tagKey(int i) {
        return tagKeys[i];
    }

    String tagValue(int i) {
        return tagValues[i];
    }

    int fieldCount() {
        return fieldKeys.length;
    }

    String fieldKey(int i) {
        return fieldKeys[i];
    }

    Object fieldValue(int i) {
        return fieldValues[i];
    }

    /** @return the time, in the write precision's unit */
    public long time() {
        return time;
    }

    /** @return the disambiguation value (see {@code event.time.disambiguate.field}) or null */
    public String disambiguation() {
        return disambiguation;
    }

    /**
     * The point that InfluxDB stores when {@code this} and then {@code later} are written with the same measurement,
     * tag set and time: the union of the fields, the later value winning.
     */
    public Point mergedWith(Point later) {
        if (!measurement.equals(later.measurement) || !Arrays.equals(tagKeys, later.tagKeys) || !Arrays.equals(tagValues, later.tagValues)
                || time != later.time) {
            throw new IllegalArgumentException("only points of one series and time can be merged");
        }
        Map<String, Object> merged = new LinkedHashMap<>(fields());
        merged.putAll(later.fields());
        return new Point(measurement, tagKeys, tagValues, merged.keySet().toArray(new String[0]), merged.values().toArray(), time,
                disambiguation != null ? disambiguation : later.disambiguation);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Point p)) {
            return false;
        }
        return time == p.time && measurement.equals(p.measurement) && Arrays.equals(tagKeys, p.tagKeys)
                && Arrays.equals(tagValues, p.tagValues) && fields().equals(p.fields()) && Objects.equals(disambiguation, p.disambiguation);
    }

    @Override
    public int hashCode() {
        return Objects.hash(measurement, Arrays.hashCode(tagKeys), Arrays.hashCode(tagValues), fields(), time);
    }

    @Override
    public String toString() {
        return "Point[" + measurement + tags() + " " + fields() + " @" + time
                + (disambiguation == null ? "" : " (" + disambiguation + ")") + "]";
    }
}
