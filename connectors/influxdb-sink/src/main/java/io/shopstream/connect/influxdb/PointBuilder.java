package io.shopstream.connect.influxdb;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Collects the tags and fields of one point at a time, in arrays reused from point to point (a record's tags and
 * fields are a handful: linear look-ups beat hashing, up to {@link #INDEXED} fields). Not thread-safe.
 */
final class PointBuilder {
    /** Above this many fields, duplicate keys are found through a hash set. */
    private static final int INDEXED = 16;

    private String[] tagKeys = new String[8];
    private String[] tagValues = new String[8];
    private int tags;
    private String[] fieldKeys = new String[16];
    private Object[] fieldValues = new Object[16];
    private int fields;
    private final Set<String> fieldIndex = new HashSet<>();

    PointBuilder reset() {
        Arrays.fill(tagValues, 0, tags, null);
        Arrays.fill(fieldValues, 0, fields, null);
        tags = 0;
        fields = 0;
        fieldIndex.clear();
        return this;
    }

    /** @return the value the tag had, or null (then it is added) */
    String putTag(String key, String value) {
        for (int i = 0; i < tags; i++) {
            if (tagKeys[i].equals(key)) {
                String before = tagValues[i];
                tagValues[i] = value;
                return before;
            }
        }
        appendTag(key, value);
        return null;
    }

    /** Adds a tag whose key is known not to be there yet. */
    void appendTag(String key, String value) {
        if (tags == tagKeys.length) {
            tagKeys = Arrays.copyOf(tagKeys, tags * 2);
            tagValues = Arrays.copyOf(tagValues, tags * 2);
        }
        tagKeys[tags] = key;
        tagValues[tags++] = value;
    }

    void putTags(Map<String, String> tags) {
        for (Map.Entry<String, String> t : tags.entrySet()) {
            putTag(t.getKey(), t.getValue());
        }
    }

    boolean hasTag(String key) {
        for (int i = 0; i < tags; i++) {
            if (tagKeys[i].equals(key)) {
                return true;
            }
        }
        return false;
    }

    boolean hasField(String key) {
        if (fields > INDEXED) {
            return fieldIndex.contains(key);
        }
        for (int i = 0; i < fields; i++) {
            if (fieldKeys[i].equals(key)) {
                return true;
            }
        }
        return false;
    }

    /** Adds a field; its key must not be there yet ({@link #hasField}). */
    void addField(String key, Object value) {
        if (fields == fieldKeys.length) {
            fieldKeys = Arrays.copyOf(fieldKeys, fields * 2);
            fieldValues = Arrays.copyOf(fieldValues, fields * 2);
        }
        fieldKeys[fields] = key;
        fieldValues[fields++] = value;
        if (fields > INDEXED) {
            if (fieldIndex.isEmpty()) {
                fieldIndex.addAll(Arrays.asList(fieldKeys).subList(0, fields));
            } else {
                fieldIndex.add(key);
            }
        }
    }

    void putFields(Map<String, Object> fields) {
        for (Map.Entry<String, Object> f : fields.entrySet()) {
            addField(f.getKey(), f.getValue());
        }
    }

    int fieldCount() {
        return fields;
    }

    String fieldKey(int i) {
        return fieldKeys[i];
    }

    /** Removes the i-th field, keeping the order of the others. */
    void removeField(int i) {
        System.arraycopy(fieldKeys, i + 1, fieldKeys, i, fields - i - 1);
        System.arraycopy(fieldValues, i + 1, fieldValues, i, fields - i - 1);
        fields--;
        fieldValues[fields] = null;
        fieldIndex.clear();
        if (fields > INDEXED) {
            fieldIndex.addAll(Arrays.asList(fieldKeys).subList(0, fields));
        }
    }

    /** @throws MappingException when line protocol cannot express the point */
    Point build(String measurement, long time, String disambiguation) {
        String[] keys = Arrays.copyOf(tagKeys, tags);
        String[] values = Arrays.copyOf(tagValues, tags);
        for (int i = 1; i < keys.length; i++) { // insertion sort by key: a handful of tags, mostly in order already
            String k = keys[i];
            String v = values[i];
            int j = i - 1;
            while (j >= 0 && keys[j].compareTo(k) > 0) {
                keys[j + 1] = keys[j];
                values[j + 1] = values[j];
                j--;
            }
            keys[j + 1] = k;
            values[j + 1] = v;
        }
        return new Point(measurement, keys, values, Arrays.copyOf(fieldKeys, fields), Arrays.copyOf(fieldValues, fields), time,
                disambiguation);
    }
}
