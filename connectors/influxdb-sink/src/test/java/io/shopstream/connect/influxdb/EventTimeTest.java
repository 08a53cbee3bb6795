package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.json;
import static io.shopstream.connect.influxdb.TestSupport.map;
import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static io.shopstream.connect.influxdb.TestSupport.record;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.data.SchemaBuilder;
import org.apache.kafka.connect.data.Struct;
import org.apache.kafka.connect.data.Timestamp;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class EventTimeTest {
    private static final long KAFKA_TS = 1_600_000_000_000L;

    private static long time(SinkRecord record, String... config) {
        return RecordMapperTest.single(new RecordMapper(parsed(config), new TestSupport.Skips()).map(record)).time();
    }

    private static SinkRecord withTime(Object t) {
        return json("m", 0, 1, map("t", t, "v", 1L), KAFKA_TS);
    }

    private static MappingException error(SinkRecord record, String... config) {
        return assertThrows(MappingException.class, () -> new RecordMapper(parsed(config), new TestSupport.Skips()).map(record));
    }

    @ParameterizedTest(name = "Timestamp field at precision {0}")
    @CsvSource({"ns,1700000000123000000", "us,1700000000123000", "ms,1700000000123", "s,1700000000"})
    void connectTimestampField(String precision, long expected) {
        Schema s = SchemaBuilder.struct().field("at", Timestamp.SCHEMA).field("v", Schema.INT64_SCHEMA).build();
        SinkRecord r = record("m", 0, 1, null, null, s, new Struct(s).put("at", new java.util.Date(1_700_000_000_123L)).put("v", 1L), KAFKA_TS);
        assertEquals(expected, time(r, "event.time.fieldname", "at", "influxdb.precision", precision));
    }

    @ParameterizedTest(name = "long in {0} written at {1}")
    @CsvSource({
        "ns,1700000000123456789,ns,1700000000123456789",
        "ns,1700000000123456789,us,1700000000123456",
        "ns,1700000000123456789,ms,1700000000123",
        "ns,1700000000123456789,s,1700000000",
        "us,1700000000123456,ns,1700000000123456000",
        "us,1700000000123456,ms,1700000000123",
        "ms,1700000000123,ns,1700000000123000000",
        "ms,1700000000123,us,1700000000123000",
        "ms,1700000000123,s,1700000000",
        "s,1700000000,ns,1700000000000000000",
        "s,1700000000,ms,1700000000000",
        "ns,-1,ms,-1",
        "ms,-1500,s,-2",
    })
    void integerEpochInEachUnitAtEachPrecisionExactAndFloored(String unit, long value, String precision, long expected) {
        assertEquals(expected, time(withTime(value), "event.time.fieldname", "t", "event.time.unit", unit, "influxdb.precision", precision));
    }

    @Test
    void intAndShortEpochs() {
        assertEquals(1_700_000_000L, time(withTime(1_700_000_000), "event.time.fieldname", "t", "event.time.unit", "s", "influxdb.precision", "s"));
        assertEquals(1_000L, time(withTime((short) 1), "event.time.fieldname", "t", "event.time.unit", "s", "influxdb.precision", "ms"));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "2023-11-14T22:13:20.123456789Z,1700000000123456789",
        "2023-11-15T00:13:20.123+02:00,1700000000123000000",
        "2023-11-14T17:13:20-05:00,1700000000000000000",
        "1969-12-31T23:59:59.999999999Z,-1",
    })
    void isoStringsWithOffsetOrZ(String iso, long expectedNs) {
        assertEquals(expectedNs, time(withTime(iso), "event.time.fieldname", "t"));
    }

    @Test
    void isoStringTruncatedToPrecision() {
        assertEquals(1_700_000_000_123L, time(withTime("2023-11-14T22:13:20.123999Z"), "event.time.fieldname", "t", "influxdb.precision", "ms"));
    }

    @Test
    void kafkaRecordTimestampWhenNoTimeField() {
        assertEquals(KAFKA_TS * 1_000_000L, time(withTime("ignored")));
        assertEquals(KAFKA_TS / 1_000L, time(withTime("ignored"), "influxdb.precision", "s"));
    }

    @Test
    void noUsableTimeIsAnErrorNeverTheWallClock() {
        assertTrue(error(record("m", 0, 1, null, null, null, map("v", 1L), null)).getMessage().contains("no Kafka timestamp"));
        assertTrue(error(json("m", 0, 1, map("v", 1L), KAFKA_TS), "event.time.fieldname", "t").getMessage().contains("missing or null"));
        assertTrue(error(withTime(1.7e9), "event.time.fieldname", "t").getMessage().contains("inexact"));
        assertTrue(error(withTime("2023-11-14T22:13:20"), "event.time.fieldname", "t").getMessage().contains("ISO-8601"));
        assertTrue(error(withTime("yesterday"), "event.time.fieldname", "t").getMessage().contains("ISO-8601"));
        assertTrue(error(withTime(true), "event.time.fieldname", "t").getMessage().contains("Boolean"));
    }

    @Test
    void timesOutsideInfluxRangeAreErrors() {
        // 2263 in ms overflows nanoseconds: InfluxDB cannot store it at any precision
        assertTrue(error(withTime(9_300_000_000_000L), "event.time.fieldname", "t", "influxdb.precision", "ms")
                .getMessage().contains("outside InfluxDB's time range"));
        assertTrue(error(withTime(Long.MAX_VALUE), "event.time.fieldname", "t", "event.time.unit", "ns")
                .getMessage().contains("outside InfluxDB's time range"));
        assertEquals(Precision.MAX_NANOS, time(withTime(Precision.MAX_NANOS), "event.time.fieldname", "t", "event.time.unit", "ns"));
    }

    @Test
    void disambiguationAddsAStableSubMillisecondOffset() {
        // offsets are fixed forever: a replay after an upgrade must write the identical point
        assertEquals(520_361L, RecordMapper.disambiguationOffset("evt-1", 1_000_000L));
        assertEquals(672_066L, RecordMapper.disambiguationOffset("evt-2", 1_000_000L));
        SinkRecord a = json("m", 0, 1, map("id", "evt-1", "v", 1L), KAFKA_TS);
        SinkRecord b = json("m", 0, 2, map("id", "evt-2", "v", 2L), KAFKA_TS);
        String[] cfg = {"event.time.disambiguate.field", "id"};
        assertEquals(KAFKA_TS * 1_000_000L + 520_361L, time(a, cfg));
        assertEquals(time(a, cfg), time(json("m", 5, 99, map("id", "evt-1", "v", 7L), KAFKA_TS), cfg), "same event, same time");
        assertNotEquals(time(a, cfg), time(b, cfg), "distinct events, distinct times");
        Point p = RecordMapperTest.single(new RecordMapper(parsed(cfg), new TestSupport.Skips()).map(a));
        assertEquals("evt-1", p.disambiguation());
        assertEquals("m id=\"evt-1\",v=1i " + (KAFKA_TS * 1_000_000L + 520_361L), LineProtocol.encode(p),
                "the disambiguation field stays a field unless excluded");
    }

    @Test
    void disambiguationTruncatesToTheSourceUnitFirst() {
        // event time in us at ns precision: 1000 slots below each microsecond
        String[] cfg = {"event.time.fieldname", "t", "event.time.unit", "us", "event.time.disambiguate.field", "id"};
        SinkRecord iso = json("m", 0, 1, map("t", "2023-11-14T22:13:20.123456789Z", "id", "evt-1", "v", 1L), KAFKA_TS);
        assertEquals(1_700_000_000_123_456_000L + 361L, time(iso, cfg));
        SinkRecord negative = json("m", 0, 1, map("t", -1L, "id", "evt-2", "v", 1L), KAFKA_TS);
        assertEquals(-1_000L + 66L, time(negative, cfg));
        assertTrue(error(json("m", 0, 1, map("t", 1L, "v", 1L), KAFKA_TS), cfg).getMessage().contains("disambiguation field"));
    }
}
