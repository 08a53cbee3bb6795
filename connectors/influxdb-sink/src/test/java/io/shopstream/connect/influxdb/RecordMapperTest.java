package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.json;
import static io.shopstream.connect.influxdb.TestSupport.map;
import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static io.shopstream.connect.influxdb.TestSupport.record;
import static io.shopstream.connect.influxdb.TestSupport.routed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;

import org.apache.kafka.connect.data.Date;
import org.apache.kafka.connect.data.Decimal;
import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Time;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;

class RecordMapperTest {
    private static final long TS = 1_700_000_000_123L; // Kafka record timestamp, ms
    private static final long TS_NS = TS * 1_000_000L;

    private final TestSupport.Skips skips = new TestSupport.Skips();

    private String line(SinkRecord record, String... config) {
        return LineProtocol.encode(single(new RecordMapper(parsed(config), skips).map(record)));
    }

    private MappingException error(SinkRecord record, String... config) {
        return assertThrows(MappingException.class, () -> new RecordMapper(parsed(config), skips).map(record));
    }

    private static final Schema ADDRESS = SchemaBuilder.struct().name("Address")
            .field("city", Schema.STRING_SCHEMA).field("zip", Schema.OPTIONAL_INT32_SCHEMA).build();

    private static final Schema ALL_TYPES = SchemaBuilder.struct().name("AllTypes")
            .field("i8", Schema.INT8_SCHEMA).field("i16", Schema.INT16_SCHEMA).field("i32", Schema.INT32_SCHEMA)
            .field("i64", Schema.INT64_SCHEMA).field("f32", Schema.FLOAT32_SCHEMA).field("f64", Schema.FLOAT64_SCHEMA)
            .field("ok", Schema.BOOLEAN_SCHEMA).field("name", Schema.STRING_SCHEMA)
            .field("price", Decimal.schema(2)).field("at", Timestamp.SCHEMA).field("day", Date.SCHEMA).field("tod", Time.SCHEMA)
            .field("address", ADDRESS).field("attrs", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.INT64_SCHEMA).build())
            .field("raw", Schema.BYTES_SCHEMA).field("list", SchemaBuilder.array(Schema.INT32_SCHEMA).build())
            .field("missing", Schema.OPTIONAL_STRING_SCHEMA)
            .build();

    private static Struct allTypes() {
        return new Struct(ALL_TYPES).put("i8", (byte) -8).put("i16", (short) 16).put("i32", 32).put("i64", 9_007_199_254_740_993L)
                .put("f32", 0.1f).put("f64", 0.1).put("ok", true).put("name", "a \"b\"")
                .put("price", new BigDecimal("12.34")).put("at", new java.util.Date(1_700_000_000_000L))
                .put("day", new java.util.Date(19_675L * 86_400_000L)).put("tod", new java.util.Date(3_600_000L))
                .put("address", new Struct(ADDRESS).put("city", "Bern").put("zip", 3000))
                .put("attrs", new java.util.LinkedHashMap<>(Map.of("clicks", 3L)))
                .put("raw", new byte[] {1, 2}).put("list", List.of(1, 2));
    }

    @Test
    void everyConnectTypeOfAStruct() {
        assertEquals("orders i8=-8i,i16=16i,i32=32i,i64=9007199254740993i,f32=0.1,f64=0.1,ok=true,name=\"a \\\"b\\\"\",price=12.34,"
                        + "at=1700000000000i,day=1699920000000i,tod=3600000i,address_city=\"Bern\",address_zip=3000i,attrs_clicks=3i " + TS_NS,
                line(record("orders", 0, 1, null, null, ALL_TYPES, allTypes(), TS)));
        assertEquals(List.of("raw", "list"), skips.unsupported, "bytes and arrays are skipped and counted");
    }

    @Test
    void everyJsonTypeOfASchemalessMap() {
        Map<String, Object> value = map("i", 7L, "int", 8, "f", 2.5, "fl", 0.25f, "ok", false, "s", "x", "big", new BigInteger("12"),
                "huge", new BigInteger("99999999999999999999"), "dec", new BigDecimal("0.5"),
                "nested", map("a", map("b", 1L), "c", "d"), "arr", List.of(1L), "bytes", ByteBuffer.wrap(new byte[] {1}), "nul", null);
        assertEquals("m i=7i,int=8i,f=2.5,fl=0.25,ok=false,s=\"x\",big=12i,dec=0.5,nested_a_b=1i,nested_c=\"d\" " + TS_NS,
                line(json("m", 0, 1, value, TS)));
        assertEquals(List.of("huge", "arr", "bytes"), skips.unsupported);
    }

    @Test
    void nanAndInfinityAreSkippedAndCounted() {
        Map<String, Object> value = map("a", Double.NaN, "b", Double.POSITIVE_INFINITY, "c", Float.NEGATIVE_INFINITY, "d", 1.0);
        assertEquals("m d=1.0 " + TS_NS, line(json("m", 0, 1, value, TS)));
        assertEquals(List.of("a", "b", "c"), skips.nonFinite);
        Schema s = SchemaBuilder.struct().field("x", Schema.FLOAT64_SCHEMA).field("y", Schema.FLOAT32_SCHEMA).build();
        MappingException e = error(record("m", 0, 1, null, null, s, new Struct(s).put("x", Double.NaN).put("y", Float.NaN), TS));
        assertTrue(e.getMessage().contains("no field left"), "a record left without fields is an error record");
    }

    @Test
    void fieldsIncludeExcludeAndSeparator() {
        Map<String, Object> value = map("a", 1L, "b", 2L, "c", map("d", 3L), "e", 4L);
        assertEquals("m c.d=3i,a=1i " + TS_NS, line(json("m", 0, 1, value, TS), "fields.include", "c,a", "fields.flatten.separator", "."));
        assertEquals("m a=1i,c_d=3i " + TS_NS, line(json("m", 0, 1, value, TS), "fields.exclude", "b,e"));
        MappingException e = error(json("m", 0, 1, map("a", map("b", 1L), "a_b", 2L), TS));
        assertTrue(e.getMessage().contains("occurs twice"), e.getMessage());
    }

    @Test
    void tagsFromValueFieldsKeyFieldsPrimitiveKeyAndTopic() {
        Schema keySchema = SchemaBuilder.struct().field("customer", Schema.INT64_SCHEMA).field("region", Schema.STRING_SCHEMA).build();
        Struct key = new Struct(keySchema).put("customer", 42L).put("region", "eu west");
        Schema valueSchema = SchemaBuilder.struct().field("shop", Schema.STRING_SCHEMA).field("vip", Schema.BOOLEAN_SCHEMA)
                .field("empty", Schema.STRING_SCHEMA).field("none", Schema.OPTIONAL_STRING_SCHEMA).field("amount", Schema.FLOAT64_SCHEMA).build();
        Struct value = new Struct(valueSchema).put("shop", "b,c").put("vip", true).put("empty", "").put("amount", 9.5);
        String[] cfg = {"tags.fields", "shop,vip,empty,none", "tags.key.fields", "customer,region", "tags.topic", "topic"};
        assertEquals("orders,customer=42,region=eu\\ west,shop=b\\,c,topic=orders,vip=true amount=9.5 " + TS_NS,
                line(record("orders", 0, 1, keySchema, key, valueSchema, value, TS), cfg));
        // Map key (schemaless), primitive key
        assertEquals("orders,customer=7,region=us,shop=b\\,c,topic=orders,vip=true amount=9.5 " + TS_NS,
                line(record("orders", 0, 1, null, map("customer", 7, "region", "us"), valueSchema, value, TS), cfg));
        assertEquals("orders,order=A-1 shop=\"b,c\",vip=true,empty=\"\",amount=9.5 " + TS_NS,
                line(record("orders", 0, 1, Schema.STRING_SCHEMA, "A-1", valueSchema, value, TS), "tags.key.name", "order"));
        assertEquals("orders,order=17 shop=\"b,c\",vip=true,empty=\"\",amount=9.5 " + TS_NS,
                line(record("orders", 0, 1, Schema.INT64_SCHEMA, 17L, valueSchema, value, TS), "tags.key.name", "order"));
        // a null key just has no key tags; a primitive key cannot give key fields
        assertEquals("orders shop=\"b,c\",vip=true,empty=\"\",amount=9.5 " + TS_NS,
                line(record("orders", 0, 1, null, null, valueSchema, value, TS), "tags.key.fields", "customer"));
        assertTrue(error(record("orders", 0, 1, Schema.STRING_SCHEMA, "A-1", valueSchema, value, TS), "tags.key.fields", "customer")
                .getMessage().contains("tags.key.name"));
    }

    @Test
    void aValueFieldNamedLikeAKeyTagIsNotAlsoAField() {
        Map<String, Object> value = map("customer", 1L, "amount", 2L);
        assertEquals("m,customer=9 amount=2i " + TS_NS,
                line(record("m", 0, 1, null, map("customer", 9L), null, value, TS), "tags.key.fields", "customer"));
        assertEquals(List.of("customer"), skips.unsupported, "counted as skipped");
    }

    @Test
    void nonStringTagValuesAreRendered() {
        Schema s = SchemaBuilder.struct().field("d", Decimal.schema(3)).field("ts", Timestamp.SCHEMA).field("day", Date.SCHEMA)
                .field("f", Schema.FLOAT32_SCHEMA).field("v", Schema.INT64_SCHEMA).build();
        Struct v = new Struct(s).put("d", new BigDecimal("1.500")).put("ts", new java.util.Date(86_400_123L))
                .put("day", new java.util.Date(86_400_000L)).put("f", 0.5f).put("v", 1L);
        assertEquals("m,d=1.500,day=1970-01-02,f=0.5,ts=1970-01-02T00:00:00.123Z v=1i " + TS_NS,
                line(record("m", 0, 1, null, null, s, v, TS), "tags.fields", "d,ts,day,f"));
        assertTrue(error(json("m", 0, 1, map("t", map("x", 1L), "v", 1L), TS), "tags.fields", "t").getMessage().contains("cannot be rendered"));
    }

    @Test
    void measurementFromTemplateAndFromField() {
        Map<String, Object> value = map("kind", "page view", "n", 1L);
        assertEquals("kafka_clicks kind=\"page view\",n=1i " + TS_NS, line(json("clicks", 0, 1, value, TS), "measurement.name.format", "kafka_${topic}"));
        assertEquals("page\\ view n=1i " + TS_NS, line(json("clicks", 0, 1, value, TS), "measurement.field", "kind"));
        assertEquals("page\\ view kind=\"page view\",n=1i " + TS_NS,
                line(json("clicks", 0, 1, value, TS), "measurement.field", "kind", "fields.include", "kind,n"));
        assertTrue(error(json("clicks", 0, 1, map("n", 1L), TS), "measurement.field", "kind").getMessage().contains("measurement field"));
        // ${topic} is the record's topic after SMTs
        assertEquals("routed n=1i " + TS_NS, line(routed("routed", "raw", 0, 1, map("n", 1L), TS)));
    }

    @Test
    void recordsThatCannotBeMappedAreErrorRecords() {
        assertTrue(error(record("m", 0, 1, null, null, Schema.STRING_SCHEMA, "text", TS)).getMessage().startsWith("invalid line protocol"),
                "a string value is read as line protocol");
        assertTrue(error(record("m", 0, 1, null, null, null, List.of(1, 2), TS)).getMessage()
                .contains("expected a Struct, a Map, or line protocol"));
        assertTrue(error(json("m", 0, 1, map("n", 1L), TS), "tags.fields", "t", "fields.include", "x").getMessage().contains("no field left"));
        assertTrue(error(json("m", 0, 1, map("t", "a\nb", "n", 1L), TS), "tags.fields", "t").getMessage().contains("newline"));
        assertTrue(error(json("m\nx", 0, 1, map("n", 1L), TS)).getMessage().contains("newline"));
        assertTrue(error(json("m", 0, 1, map("bad\\", 1L), TS)).getMessage().contains("backslash"));
    }

    @Test
    void aFieldNamedTimeIsSkippedNotSilentlyLost() {
        assertEquals("m n=1i " + TS_NS, line(json("m", 0, 1, map("time", 5L, "n", 1L), TS)));
        assertEquals(List.of("time"), skips.unsupported);
    }
    @Test
    void oneMapperFollowsSchemaChangesBetweenRecordsAndEqualSchemasOfOtherInstances() {
        // the mapper resolves the fields of a Struct schema once; records of another schema (an evolved topic) or an
        // equal schema built anew must map exactly as a fresh mapper maps them
        Schema v1 = SchemaBuilder.struct().name("Order").field("shop", Schema.STRING_SCHEMA).field("n", Schema.INT64_SCHEMA)
                .field("at", Timestamp.SCHEMA).build();
        Schema v2 = SchemaBuilder.struct().name("Order").field("coupon", Schema.OPTIONAL_STRING_SCHEMA).field("at", Timestamp.SCHEMA)
                .field("n", Schema.FLOAT64_SCHEMA).field("shop", Schema.STRING_SCHEMA).build();
        Schema v1Again = SchemaBuilder.struct().name("Order").field("shop", Schema.STRING_SCHEMA).field("n", Schema.INT64_SCHEMA)
                .field("at", Timestamp.SCHEMA).build();
        String[] config = {"tags.fields", "shop", "event.time.fieldname", "at", "influxdb.precision", "ms", "measurement.name.format", "m"};
        RecordMapper mapper = new RecordMapper(parsed(config), skips);
        java.util.Date at = new java.util.Date(TS);
        List<Struct> values = List.of(
                new Struct(v1).put("shop", "a").put("n", 1L).put("at", at),
                new Struct(v2).put("coupon", "X").put("at", at).put("n", 2.5).put("shop", "b"),
                new Struct(v2).put("coupon", null).put("at", at).put("n", 3.5).put("shop", "c"),
                new Struct(v1Again).put("shop", "d").put("n", 4L).put("at", at),
                new Struct(v1).put("shop", "e").put("n", 5L).put("at", at));
        List<String> expected = List.of("m,shop=a n=1i " + TS, "m,shop=b coupon=\"X\",n=2.5 " + TS, "m,shop=c n=3.5 " + TS,
                "m,shop=d n=4i " + TS, "m,shop=e n=5i " + TS);
        for (int i = 0; i < values.size(); i++) {
            SinkRecord r = record("t", 0, i, null, null, values.get(i).schema(), values.get(i), TS);
            assertEquals(expected.get(i), LineProtocol.encode(single(mapper.map(r))));
            assertEquals(expected.get(i), line(r, config), "a fresh mapper agrees");
        }
    }

    // ---- Confluent's record shape, headers and static tags

    private static final Schema CONFLUENT = SchemaBuilder.struct()
            .field("measurement", Schema.OPTIONAL_STRING_SCHEMA)
            .field("tags", SchemaBuilder.map(Schema.STRING_SCHEMA, Schema.STRING_SCHEMA).optional().build())
            .field("sn", Schema.STRING_SCHEMA).field("value", Schema.FLOAT64_SCHEMA).build();

    private static final String[] CONFLUENT_CONFIG = {"measurement.field", "measurement", "measurement.field.missing", "format",
        "tags.map.field", "tags"};

    @Test
    void confluentsRecordShapeGivesTheSamePoints() {
        // the Struct of Confluent's documented example (JsonConverter with schemas), with and without a measurement
        Struct withoutMeasurement = new Struct(CONFLUENT).put("tags", Map.of("tagnum", "5")).put("sn", "FOO").put("value", 500.0);
        assertEquals("testdata-json4,tagnum=5 sn=\"FOO\",value=500.0 " + TS_NS,
                line(record("testdata-json4", 0, 0, null, null, CONFLUENT, withoutMeasurement, TS), CONFLUENT_CONFIG));
        Struct withMeasurement = new Struct(CONFLUENT).put("measurement", "sensor").put("tags", Map.of("b", "2", "a", "1"))
                .put("sn", "FOO").put("value", 1.5);
        assertEquals("sensor,a=1,b=2 sn=\"FOO\",value=1.5 " + TS_NS,
                line(record("testdata-json4", 0, 0, null, null, CONFLUENT, withMeasurement, TS), CONFLUENT_CONFIG));
        // schemaless JSON, as in Confluent's record structure: {"measurement", "tags": {...}, fields...}
        Map<String, Object> json = map("measurement", "cpu", "tags", map("hostname", "test", "ip", "10.2.3.4"), "cpu1", 10L, "cpu2", 5L);
        assertEquals("cpu,hostname=test,ip=10.2.3.4 cpu1=10i,cpu2=5i " + TS_NS, line(json("t", 0, 0, json, TS), CONFLUENT_CONFIG));
        assertEquals("t cpu1=10i " + TS_NS, line(json("t", 0, 0, map("cpu1", 10L), TS), CONFLUENT_CONFIG), "no tags, no measurement");
        // without the new settings the map is flattened into fields, as before
        assertEquals("cpu cpu1=10i,cpu2=5i,measurement=\"cpu\",tags_hostname=\"test\",tags_ip=\"10.2.3.4\" " + TS_NS,
                sortedFields(line(json("cpu", 0, 0, json, TS))));
    }

    private static String sortedFields(String line) {
        String[] parts = line.split(" ");
        String[] fields = parts[1].split(",");
        java.util.Arrays.sort(fields);
        return parts[0] + " " + String.join(",", fields) + " " + parts[2];
    }

    @Test
    void tagsMapProblemsAreErrorRecordsAndSharedKeysAreNotFields() {
        MappingException e = error(json("t", 0, 0, map("tags", "not a map", "v", 1L), TS), CONFLUENT_CONFIG);
        assertTrue(e.getMessage().contains("tags map field 'tags' is a String"), e.getMessage());
        e = error(json("t", 0, 0, map("tags", map("t", map("deep", 1)), "v", 1L), TS), CONFLUENT_CONFIG);
        assertTrue(e.getMessage().contains("tags map entry 't'"), e.getMessage());
        assertEquals("t,host=a v=1i " + TS_NS, line(json("t", 0, 0, map("tags", map("host", "a", "empty", ""), "v", 1L, "host", "b"), TS),
                CONFLUENT_CONFIG));
        assertEquals(List.of("host"), skips.unsupported, "the field sharing the tag's key is skipped and counted");
        e = error(json("t", 0, 0, map("tags", map("shop", "x"), "shop", "y", "v", 1L), TS), "tags.map.field", "tags", "tags.fields", "shop");
        assertTrue(e.getMessage().contains("tag 'shop' gets two values"), e.getMessage());
    }

    @Test
    void headersAndStaticTags() {
        SinkRecord r = json("t", 0, 0, map("v", 1L), TS);
        r.headers().addString("source", "web").addInt("attempt", 3).addString("source", "app");
        assertEquals("t,attempt=3,env=prod,region=eu-west,source=app v=1i " + TS_NS,
                line(r, "tags.headers", "source,attempt,absent", "tags.static", "env=prod, region=eu-west"));
        SinkRecord noHeaders = json("t", 0, 1, map("v", 1L), TS);
        assertEquals("t,env=a\\=b v=1i " + TS_NS, line(noHeaders, "tags.headers", "source", "tags.static", "env=a=b"), "split at the first '='");
    }

    static Point single(List<Point> points) {
        assertEquals(1, points.size(), "one point per record");
        return points.get(0);
    }
}
