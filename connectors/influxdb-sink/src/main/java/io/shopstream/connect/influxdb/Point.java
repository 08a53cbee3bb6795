package io.shopstream.connect.influxdb;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One InfluxDB point: measurement, tag set, fields and a time in the write precision. Field values are
 * {@link Long} (integer), {@link Double} (float), {@link Boolean} or {@link String}. Immutable.
 */
public final class Point {
    private final String measurement;
    private final SortedMap<String, String> tags;
    private final Map<String, Object> fields;
    private final long time;
    private final String disambiguation;

    /**
     * @param disambiguation the value of {@code event.time.disambiguate.field} that shaped the time, or null
     * @throws MappingException when line protocol cannot express the point (see {@link LineProtocol}) or it has no
     *                          field
     */
    public Point(String measurement, Map<String, String> tags, Map<String, Object> fields, long time, String disambiguation) {
        this(measurement, new TreeMap<>(tags), new LinkedHashMap<>(fields), time, disambiguation, OWNED);
    }

    /** Marks the constructor that keeps the maps it is given (its callers made them for this point alone). */
    private static final Object OWNED = new Object();

    /**
     * A point that takes ownership of the given maps instead of copying them (the caller must not keep or change
     * them); checked like any other. For the mapper's hot path: one record, one point.
     */
    static Point owning(String measurement, TreeMap<String, String> tags, LinkedHashMap<String, Object> fields, long time,
            String disambiguation) {
        return new Point(measurement, tags, fields, time, disambiguation, OWNED);
    }

    private Point(String measurement, TreeMap<String, String> tags, LinkedHashMap<String, Object> fields, long time, String disambiguation,
            Object owned) {
        this.measurement = Objects.requireNonNull(measurement, "measurement");
        this.tags = Collections.unmodifiableSortedMap(tags);
        this.fields = Collections.unmodifiableMap(fields);
        this.time = time;
        this.disambiguation = disambiguation;
        LineProtocol.checkMeasurement(measurement);
        for (Map.Entry<String, String> tag : this.tags.entrySet()) {
            LineProtocol.checkName("tag key", tag.getKey());
            LineProtocol.checkName("tag value", tag.getValue());
        }
        if (this.fields.isEmpty()) {
            throw new MappingException("the point has no field (line protocol needs at least one)");
        }
        for (Map.Entry<String, Object> field : this.fields.entrySet()) {
            LineProtocol.checkName("field key", field.getKey());
            Object v = field.getValue();
            if (v instanceof Double && !Double.isFinite((Double) v)) {
                throw new IllegalArgumentException("non-finite float in field " + field.getKey());
            }
            if (!(v instanceof Long || v instanceof Double || v instanceof Boolean || v instanceof String)) {
                throw new IllegalArgumentException("unsupported field value type " + (v == null ? "null" : v.getClass().getName()));
            }
            if (v instanceof String text) {
                LineProtocol.checkText("string field '" + field.getKey() + "'", text);
            }
        }
    }

    public String measurement() {
        return measurement;
    }

    /** @return tags sorted by key */
    public SortedMap<String, String> tags() {
        return tags;
    }

    /** @return fields in insertion order */
    public Map<String, Object> fields() {
        return fields;
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
        if (!measurement.equals(later.measurement) || !tags.equals(later.tags) || time != later.time) {
            throw new IllegalArgumentException("only points of one series and time can be merged");
        }
        Map<String, Object> merged = new LinkedHashMap<>(fields);
        merged.putAll(later.fields);
        return new Point(measurement, tags, merged, time, disambiguation != null ? disambiguation : later.disambiguation);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof Point)) {
            return false;
        }
        Point p = (Point) o;
        return time == p.time && measurement.equals(p.measurement) && tags.equals(p.tags) && fields.equals(p.fields)
                && Objects.equals(disambiguation, p.disambiguation);
    }

    @Override
    public int hashCode() {
        return Objects.hash(measurement, tags, fields, time);
    }

    @Override
    public String toString() {
        return LineProtocol.encode(this);
    }
}
