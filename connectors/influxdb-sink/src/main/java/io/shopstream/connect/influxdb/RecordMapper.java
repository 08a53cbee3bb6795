package io.shopstream.connect.influxdb;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Field;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.header.Header;
import org.apache.kafka.connect.sink.SinkRecord;

/**
 * Turns a {@link SinkRecord} (Struct value from a schema'd converter, or a schemaless Map) into a {@link Point}.
 * Whatever cannot be mapped raises a {@link MappingException} whose message is the reason reported to the DLQ.
 * See the module README, "Mapping", for the rules.
 */
public final class RecordMapper {

    /** Receives what the mapper skipped, for metrics. */
    public interface Listener {
        /** A NaN or ±Infinity float field was skipped. */
        void nonFiniteSkipped(String fieldKey);

        /** A field of a type InfluxDB cannot store (bytes, array, ...) or with a reserved name was skipped. */
        void unsupportedSkipped(String fieldKey, String why);
    }

    private final String measurementFormat;
    private final String measurementField;
    private final boolean measurementFallback;
    private final String tagsMapField;
    private final List<String> tagHeaders;
    private final Map<String, String> staticTags;
    private final Precision linePrecision;
    private final List<String> tagFields;
    private final List<String> tagKeyFields;
    private final String tagKeyName;
    private final String tagTopic;
    private final List<String> fieldsInclude;
    private final Set<String> fieldsExclude;
    private final String separator;
    private final String timeField;
    private final Precision timeUnit;
    private final Precision precision;
    private final String disambiguateField;
    private final Set<String> allTagKeys;
    /** tags.fields names no name twice (validation allows it): their tags need no look-up of an earlier one. */
    private final boolean tagFieldsDistinct;
    private final Listener listener;
    private final EventTimeOffset eventTimeOffset = new EventTimeOffset();
    private final PointBuilder builder = new PointBuilder();
    /** The plan of the last Struct schema seen: a topic's records almost always share one schema. */
    private Schema planSchema;
    private Plan plan;

    public RecordMapper(InfluxDbSinkConfig config, Listener listener) {
        this.measurementFormat = config.measurementFormat();
        this.measurementField = config.measurementField();
        this.measurementFallback = config.measurementFieldFallback();
        this.tagsMapField = config.tagsMapField();
        this.tagHeaders = config.tagHeaders();
        this.staticTags = config.staticTags();
        this.linePrecision = config.lineProtocolPrecision();
        this.tagFields = config.tagFields();
        this.tagKeyFields = config.tagKeyFields();
        this.tagKeyName = config.tagKeyName();
        this.tagTopic = config.tagTopic();
        this.fieldsInclude = config.fieldsInclude();
        this.fieldsExclude = new HashSet<>(config.fieldsExclude());
        this.separator = config.flattenSeparator();
        this.timeField = config.timeField();
        this.timeUnit = config.timeUnit();
        this.precision = config.precision();
        this.disambiguateField = config.disambiguateField();
        this.listener = listener;
        Set<String> tagKeys = new HashSet<>(tagFields);
        tagKeys.addAll(tagKeyFields);
        if (!tagKeyName.isEmpty()) {
            tagKeys.add(tagKeyName);
        }
        if (!tagTopic.isEmpty()) {
            tagKeys.add(tagTopic);
        }
        tagKeys.addAll(tagHeaders);
        tagKeys.addAll(staticTags.keySet());
        this.allTagKeys = tagKeys;
        this.tagFieldsDistinct = new HashSet<>(tagFields).size() == tagFields.size();
    }

    /**
     * @return the record's points: one for a Struct or Map value, one per line for a value that already is line
     * protocol (a String, or UTF-8 bytes)
     * @throws MappingException with the reason when the record cannot be written (the record is an error record)
     */
    public List<Point> map(SinkRecord record) {
        Object raw = record.value();
        if (raw instanceof String || raw instanceof byte[]) {
            return lineProtocol(record, raw);
        }
        View value = View.of(raw);
        if (value == null) {
            throw new MappingException("the record value is " + describe(raw) + ", expected a Struct, a Map, or line protocol "
                    + "(a String or bytes)");
        }
        // Struct values: the fields this config reads are resolved once per schema, not looked up by name per record
        Struct struct = raw instanceof Struct ? (Struct) raw : null;
        Plan p = struct == null ? null : plan(struct.schema());
        String measurement = measurement(record, value);
        PointBuilder tags = builder.reset();
        for (int i = 0; i < tagFields.size(); i++) {
            String name = tagFields.get(i);
            if (p == null) {
                putTag(tags, name, value.schema(name), value.get(name), "value field");
            } else if (p.tags[i] != null) {
                Object v = struct.get(p.tags[i]);
                if (tagFieldsDistinct && v instanceof String s) {
                    if (!s.isEmpty()) {
                        tags.appendTag(name, s); // the first tags, of distinct names: nothing to compare with
                    }
                } else {
                    putTag(tags, name, p.tags[i].schema(), v, "value field");
                }
            }
        }
        keyTags(record, tags);
        recordTags(record, tags);
        if (!tagsMapField.isEmpty()) {
            mapTags(value.get(tagsMapField), value.schema(tagsMapField), tags);
        }
        String disambiguation = null;
        if (!disambiguateField.isEmpty()) {
            Object d = p == null ? value.get(disambiguateField) : get(struct, p.disambiguation);
            if (d == null) {
                throw new MappingException("disambiguation field '" + disambiguateField + "' (event.time.disambiguate.field) is missing or null");
            }
            Schema schema = p == null ? value.schema(disambiguateField) : schemaOf(p.disambiguation);
            disambiguation = render(d, schema, "disambiguation field", disambiguateField);
        }
        long time = p == null
                ? time(record, timeField.isEmpty() ? null : value.get(timeField), value.schema(timeField), disambiguation)
                : time(record, get(struct, p.time), schemaOf(p.time), disambiguation);
        PointBuilder fields = builder;
        if (p == null) {
            fields(value, fields);
        } else {
            fields(struct, p, fields);
        }
        if (!tagsMapField.isEmpty()) {
            // a field with the key of a tag from the tags map: InfluxQL could not tell the two apart
            for (int i = 0; i < fields.fieldCount();) {
                String key = fields.fieldKey(i);
                if (tags.hasTag(key)) {
                    listener.unsupportedSkipped(key, "a tag has the same key");
                    fields.removeField(i);
                } else {
                    i++;
                }
            }
        }
        if (fields.fieldCount() == 0) {
            throw new MappingException("no field left to write (fields need a non-null value of a supported type; tags, the event time "
                    + "and the measurement field are not fields unless listed in fields.include)");
        }
        return List.of(builder.build(measurement, time, disambiguation));
    }

    /** Tags of the record rather than its value: the topic, headers and the static tags. */
    private void recordTags(SinkRecord record, PointBuilder tags) {
        if (!tagTopic.isEmpty()) {
            putTag(tags, tagTopic, null, record.topic(), "topic");
        }
        for (int i = 0; i < tagHeaders.size(); i++) { // indexes: no iterator per record
            String key = tagHeaders.get(i);
            Header h = record.headers() == null ? null : record.headers().lastWithName(key);
            if (h != null) {
                putTag(tags, key, h.schema(), h.value(), "header");
            }
        }
        if (!staticTags.isEmpty()) {
            for (Map.Entry<String, String> t : staticTags.entrySet()) {
                putTag(tags, t.getKey(), null, t.getValue(), "static tag");
            }
        }
    }

    /** The entries of the tags map field (Confluent's record shape): each one a tag. */
    private void mapTags(Object map, Schema schema, PointBuilder tags) {
        if (map == null) {
            return;
        }
        View view = View.of(map);
        if (view == null) {
            throw new MappingException("tags map field '" + tagsMapField + "' is a " + describe(map) + ", expected a Map or a Struct");
        }
        Schema valueSchema = schema != null && schema.type() == Schema.Type.MAP ? schema.valueSchema() : null;
        for (String key : view.names()) {
            putTag(tags, key, valueSchema != null ? valueSchema : view.schema(key), view.get(key), "tags map entry");
        }
    }

    /** A value that already is line protocol: its lines, with the record's tags added, times in the write precision. */
    private List<Point> lineProtocol(SinkRecord record, Object raw) {
        String text = raw instanceof String str ? str : utf8((byte[]) raw);
        List<LineProtocolParser.Line> lines = LineProtocolParser.parse(text);
        if (lines.isEmpty()) {
            throw new MappingException("the line protocol value holds no point (only blank or comment lines)");
        }
        List<Point> points = new ArrayList<>(lines.size());
        for (LineProtocolParser.Line line : lines) {
            PointBuilder tags = builder.reset();
            tags.putTags(line.tags());
            keyTags(record, tags);
            recordTags(record, tags);
            long time;
            try {
                if (line.time() != null) {
                    time = precision.fromNanosFloor(linePrecision.toNanos(line.time()));
                } else if (record.timestamp() != null) {
                    time = precision.fromNanosFloor(Precision.MS.toNanos(record.timestamp()));
                } else {
                    throw new MappingException("a line has no timestamp and the record has no Kafka timestamp: no usable time");
                }
                checkRange(time);
            } catch (ArithmeticException e) {
                throw outOfRange();
            }
            tags.putFields(line.fields());
            points.add(tags.build(line.measurement(), time, null));
        }
        return points;
    }

    private static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new MappingException("the bytes value is not valid UTF-8 line protocol (" + e + ")");
        }
    }

    /** The fields of a Struct schema this config reads, resolved once. */
    private static final class Plan {
        final Field[] tags; // per tags.fields entry; null when the schema lacks it
        final Field time;
        final Field disambiguation;
        final Field[] fields; // what fields() would consider, in its order; null when the schema lacks it
        final String[] fieldKeys;
        final boolean[] sharesTagKey; // a key or topic tag has this key: skipped (and counted when not null)

        Plan(Field[] tags, Field time, Field disambiguation, List<Field> fields, List<String> fieldKeys, List<Boolean> sharesTagKey) {
            this.tags = tags;
            this.time = time;
            this.disambiguation = disambiguation;
            this.fields = fields.toArray(new Field[0]);
            this.fieldKeys = fieldKeys.toArray(new String[0]);
            this.sharesTagKey = new boolean[sharesTagKey.size()];
            for (int i = 0; i < this.sharesTagKey.length; i++) {
                this.sharesTagKey[i] = sharesTagKey.get(i);
            }
        }
    }

    private Plan plan(Schema schema) {
        if (schema == planSchema) {
            return plan;
        }
        if (plan != null && schema.equals(planSchema)) {
            planSchema = schema;
            return plan;
        }
        Field[] tags = new Field[tagFields.size()];
        for (int i = 0; i < tags.length; i++) {
            tags[i] = schema.field(tagFields.get(i));
        }
        List<Field> fields = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        List<Boolean> shared = new ArrayList<>();
        if (!fieldsInclude.isEmpty()) {
            for (String name : fieldsInclude) {
                fields.add(schema.field(name));
                keys.add(name);
                shared.add(false); // addField skips and counts it
            }
        } else {
            for (Field f : schema.fields()) {
                String name = f.name();
                if (tagFields.contains(name) || name.equals(timeField) || name.equals(measurementField) || name.equals(tagsMapField)
                        || fieldsExclude.contains(name)) {
                    continue;
                }
                fields.add(f);
                keys.add(name);
                shared.add(allTagKeys.contains(name));
            }
        }
        plan = new Plan(tags, timeField.isEmpty() ? null : schema.field(timeField),
                disambiguateField.isEmpty() ? null : schema.field(disambiguateField), fields, keys, shared);
        planSchema = schema;
        return plan;
    }

    private static Object get(Struct struct, Field field) {
        return field == null ? null : struct.get(field);
    }

    private static Schema schemaOf(Field field) {
        return field == null ? null : field.schema();
    }

    private void fields(Struct struct, Plan p, PointBuilder fields) {
        for (int i = 0; i < p.fields.length; i++) {
            Object v = get(struct, p.fields[i]);
            if (p.sharesTagKey[i]) {
                if (v != null) {
                    listener.unsupportedSkipped(p.fieldKeys[i], "a tag has the same key");
                }
                continue;
            }
            addField(fields, p.fieldKeys[i], schemaOf(p.fields[i]), v);
        }
    }

    // ---------------------------------------------------------------- measurement and tags

    private String measurement(SinkRecord record, View value) {
        if (!measurementField.isEmpty()) {
            Object m = value.get(measurementField);
            if (m == null) {
                if (measurementFallback) {
                    return measurementFormat.replace(InfluxDbSinkConfig.TOPIC_PLACEHOLDER, record.topic());
                }
                throw new MappingException("measurement field '" + measurementField + "' is missing or null");
            }
            String name = render(m, value.schema(measurementField), "measurement field", measurementField);
            if (name.isEmpty()) {
                throw new MappingException("measurement field '" + measurementField + "' is empty");
            }
            return name;
        }
        return measurementFormat.replace(InfluxDbSinkConfig.TOPIC_PLACEHOLDER, record.topic());
    }

    private void keyTags(SinkRecord record, PointBuilder tags) {
        Object key = record.key();
        if (key == null || (tagKeyFields.isEmpty() && tagKeyName.isEmpty())) {
            return;
        }
        View keyView = View.of(key);
        if (keyView != null) {
            if (tagKeyFields.isEmpty()) {
                throw new MappingException("the record key is a " + describe(key) + ": tags.key.name only applies to primitive keys, "
                        + "use tags.key.fields for the fields of a Struct or Map key");
            }
            for (String name : tagKeyFields) {
                putTag(tags, name, keyView.schema(name), keyView.get(name), "key field");
            }
        } else {
            if (tagKeyName.isEmpty()) {
                throw new MappingException("the record key is a " + describe(key) + ", not a Struct or Map: tags.key.fields cannot be read "
                        + "from it (set tags.key.name to write a primitive key as a tag)");
            }
            putTag(tags, tagKeyName, record.keySchema(), key, "record key");
        }
    }

    private void putTag(PointBuilder tags, String tagKey, Schema schema, Object v, String source) {
        if (v == null) {
            return;
        }
        String rendered = render(v, schema, source, tagKey);
        if (!rendered.isEmpty()) {
            String before = tags.putTag(tagKey, rendered);
            if (before != null && !before.equals(rendered)) {
                throw new MappingException("tag '" + tagKey + "' gets two values: '" + before + "' and '" + rendered + "' (from the "
                        + source + ")");
            }
        }
    }

    /**
     * Renders a scalar as a string (tag values, measurement and disambiguation values).
     *
     * @param what what the value is ("value field", ...) and {@code name} its name: for the message when it cannot be
     *             rendered (built only then)
     */
    static String render(Object v, Schema schema, String what, String name) {
        if (v instanceof String) {
            return (String) v;
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte || v instanceof BigInteger
                || v instanceof Boolean) {
            return v.toString();
        }
        if (v instanceof Double) {
            return Double.toString((Double) v);
        }
        if (v instanceof Float) {
            return Float.toString((Float) v);
        }
        if (v instanceof BigDecimal) {
            return ((BigDecimal) v).toPlainString();
        }
        if (v instanceof java.util.Date) {
            Instant instant = ((java.util.Date) v).toInstant();
            String logical = schema == null ? null : schema.name();
            if (org.apache.kafka.connect.data.Date.LOGICAL_NAME.equals(logical)) {
                return instant.atOffset(ZoneOffset.UTC).toLocalDate().toString();
            }
            if (Time.LOGICAL_NAME.equals(logical)) {
                return instant.atOffset(ZoneOffset.UTC).toLocalTime().toString();
            }
            return instant.toString();
        }
        throw new MappingException(what + " '" + name + "' is a " + describe(v) + ", which cannot be rendered as a tag value or name");
    }

    // ---------------------------------------------------------------- time

    private long time(SinkRecord record, Object timeValue, Schema timeSchema, String disambiguation) {
        long nanos;
        Precision source;
        try {
            if (!timeField.isEmpty()) {
                source = timeUnit;
                nanos = eventTimeNanos(timeValue, timeSchema);
            } else {
                source = Precision.MS;
                Long ts = record.timestamp();
                if (ts == null) {
                    throw new MappingException("the record has no Kafka timestamp and event.time.fieldname is not set: no usable time");
                }
                nanos = Precision.MS.toNanos(ts);
            }
            long time;
            if (disambiguation != null) {
                long base = Math.floorDiv(nanos, source.nanos()) * source.nanos();
                long slots = source.nanos() / precision.nanos();
                time = Math.addExact(Math.floorDiv(base, precision.nanos()), eventTimeOffset.of(disambiguation, slots));
            } else {
                time = precision.fromNanosFloor(nanos);
            }
            checkRange(time);
            return time;
        } catch (ArithmeticException e) {
            throw outOfRange();
        }
    }

    /** @throws ArithmeticException when the time (in the write precision) is outside InfluxDB's range */
    private void checkRange(long time) {
        long written = precision.toNanos(time);
        if (written < Precision.MIN_NANOS || written > Precision.MAX_NANOS) {
            throw new ArithmeticException("out of range");
        }
    }

    private static MappingException outOfRange() {
        return new MappingException("the event time is outside InfluxDB's time range (1677-09-21T00:12:43.145224194Z to "
                + "2262-04-11T23:47:16.854775806Z)");
    }

    private long eventTimeNanos(Object v, Schema schema) {
        if (v == null) {
            throw new MappingException("event time field '" + timeField + "' is missing or null");
        }
        if (v instanceof java.util.Date) {
            // Connect Timestamp (and Date) logical types: epoch milliseconds
            return Precision.MS.toNanos(((java.util.Date) v).getTime());
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            if (schema != null && Time.LOGICAL_NAME.equals(schema.name())) {
                throw new MappingException("event time field '" + timeField + "' is a Connect Time (time of day), not a point in time");
            }
            return timeUnit.toNanos(((Number) v).longValue());
        }
        if (v instanceof String) {
            return isoNanos((String) v);
        }
        throw new MappingException("event time field '" + timeField + "' is a " + describe(v)
                + "; expected a Connect Timestamp, an integer epoch in " + timeUnit.configName() + " (event.time.unit) or an ISO-8601 string"
                + (v instanceof Double || v instanceof Float || v instanceof BigDecimal ? " (floating-point times are inexact and refused)" : ""));
    }

    private long isoNanos(String s) {
        try {
            Instant instant = OffsetDateTime.parse(s.trim(), DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
            return Math.addExact(Math.multiplyExact(instant.getEpochSecond(), 1_000_000_000L), instant.getNano());
        } catch (DateTimeParseException e) {
            throw new MappingException("event time field '" + timeField + "' value '" + abbreviate(s)
                    + "' is not an ISO-8601 date-time with offset or Z (e.g. 2024-05-01T12:00:00.123Z)");
        }
    }

    /**
     * @return a stable offset in [0, slots): the first 8 bytes of SHA-256 of the value's UTF-8 bytes, as an unsigned
     * number, modulo {@code slots}
     */
    public static long disambiguationOffset(String value, long slots) {
        return new EventTimeOffset().of(value, slots);
    }

    // ---------------------------------------------------------------- fields

    private void fields(View value, PointBuilder fields) {
        Collection<String> names;
        if (!fieldsInclude.isEmpty()) {
            names = fieldsInclude;
        } else {
            names = new ArrayList<>();
            for (String name : value.names()) {
                if (tagFields.contains(name) || name.equals(timeField) || name.equals(measurementField) || name.equals(tagsMapField)
                        || fieldsExclude.contains(name)) {
                    continue;
                }
                if (allTagKeys.contains(name)) {
                    // a key or topic tag has this key: InfluxQL could not tell the two apart
                    if (value.get(name) != null) {
                        listener.unsupportedSkipped(name, "a tag has the same key");
                    }
                    continue;
                }
                names.add(name);
            }
        }
        for (String name : names) {
            addField(fields, name, value.schema(name), value.get(name));
        }
    }

    private void addField(PointBuilder out, String key, Schema schema, Object v) {
        if (v == null) {
            return;
        }
        if (v instanceof Struct) {
            Struct struct = (Struct) v;
            for (Field f : struct.schema().fields()) {
                addField(out, key + separator + f.name(), f.schema(), struct.get(f));
            }
            return;
        }
        if (v instanceof Map) {
            Schema valueSchema = schema != null && schema.type() == Schema.Type.MAP ? schema.valueSchema() : null;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                addField(out, key + separator + e.getKey(), valueSchema, e.getValue());
            }
            return;
        }
        Object converted = fieldValue(key, schema, v);
        if (converted == null) {
            return;
        }
        if (key.equals("time")) {
            listener.unsupportedSkipped(key, "'time' is reserved: InfluxDB 1.x silently drops such a field");
            return;
        }
        if (allTagKeys.contains(key)) {
            listener.unsupportedSkipped(key, "a tag has the same key");
            return;
        }
        if (out.hasField(key)) {
            throw new MappingException("field key '" + key + "' occurs twice after flattening nested fields with separator '" + separator + "'");
        }
        out.addField(key, converted);
    }

    /** @return the line-protocol value (Long, Double, Boolean, String) or null when the field is skipped */
    private Object fieldValue(String key, Schema schema, Object v) {
        String logical = schema == null ? null : schema.name();
        if (v instanceof BigDecimal || Decimal.LOGICAL_NAME.equals(logical)) {
            if (!(v instanceof BigDecimal)) {
                listener.unsupportedSkipped(key, "Decimal field without a BigDecimal value");
                return null;
            }
            return finite(key, ((BigDecimal) v).doubleValue());
        }
        if (v instanceof java.util.Date) {
            // Connect Timestamp, Date and Time logical types (and schemaless dates): epoch milliseconds
            return ((java.util.Date) v).getTime();
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof BigInteger) {
            BigInteger b = (BigInteger) v;
            if (b.bitLength() < 64) {
                return b.longValue();
            }
            listener.unsupportedSkipped(key, "integer " + b + " does not fit in InfluxDB's 64-bit integer");
            return null;
        }
        if (v instanceof Double) {
            return finite(key, (Double) v);
        }
        if (v instanceof Float) {
            float f = (Float) v;
            // the float's shortest decimal form, read as a double: what a reader of the float32 value expects
            return Float.isFinite(f) ? Double.valueOf(Double.parseDouble(Float.toString(f))) : finite(key, f);
        }
        if (v instanceof Boolean || v instanceof String) {
            return v;
        }
        if (v instanceof byte[] || v instanceof ByteBuffer) {
            listener.unsupportedSkipped(key, "bytes have no line-protocol type");
            return null;
        }
        if (v instanceof List) {
            listener.unsupportedSkipped(key, "arrays have no line-protocol type");
            return null;
        }
        listener.unsupportedSkipped(key, "unsupported type " + v.getClass().getName());
        return null;
    }

    private Double finite(String key, double d) {
        if (Double.isFinite(d)) {
            return d;
        }
        listener.nonFiniteSkipped(key);
        return null;
    }

    // ---------------------------------------------------------------- helpers

    static String describe(Object v) {
        if (v == null) {
            return "null";
        }
        if (v instanceof Struct) {
            return "Struct";
        }
        if (v instanceof Map) {
            return "Map";
        }
        if (v instanceof List) {
            return "List";
        }
        if (v instanceof byte[]) {
            return "byte[]";
        }
        return v.getClass().getSimpleName();
    }

    private static String abbreviate(String s) {
        return s.length() > 64 ? s.substring(0, 64) + "..." : s;
    }

    /** Read access to the top-level fields of a Struct or a Map. */
    private static final class View {
        private final Struct struct;
        private final Map<?, ?> map;

        private View(Struct struct, Map<?, ?> map) {
            this.struct = struct;
            this.map = map;
        }

        /** @return a view of {@code o}, or null when it is neither a Struct nor a Map */
        static View of(Object o) {
            if (o instanceof Struct) {
                return new View((Struct) o, null);
            }
            if (o instanceof Map) {
                return new View(null, (Map<?, ?>) o);
            }
            return null;
        }

        Object get(String name) {
            if (struct != null) {
                Field f = struct.schema().field(name);
                return f == null ? null : struct.get(f);
            }
            return map.get(name);
        }

        Schema schema(String name) {
            if (struct != null) {
                Field f = struct.schema().field(name);
                return f == null ? null : f.schema();
            }
            return null;
        }

        List<String> names() {
            List<String> names = new ArrayList<>();
            if (struct != null) {
                for (Field f : struct.schema().fields()) {
                    names.add(f.name());
                }
            } else {
                for (Object k : map.keySet()) {
                    names.add(String.valueOf(k));
                }
            }
            return names;
        }
    }
}
