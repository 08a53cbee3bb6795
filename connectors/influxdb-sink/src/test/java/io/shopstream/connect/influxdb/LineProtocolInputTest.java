package io.shopstream.connect.influxdb;

import static io.shopstream.connect.influxdb.TestSupport.parsed;
import static io.shopstream.connect.influxdb.TestSupport.record;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.kafka.connect.data.Schema;
import org.apache.kafka.connect.sink.SinkRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Records that already are line protocol (e.g. Telegraf's Kafka output): parsed, validated, written as points. */
class LineProtocolInputTest {
    private static final long TS = 1_700_000_000_123L;

    private final TestSupport.Skips skips = new TestSupport.Skips();

    private List<String> lines(Object value, String... config) {
        List<String> out = new ArrayList<>();
        for (Point p : new RecordMapper(parsed(config), skips).map(record("telegraf", 0, 0, null, null, Schema.STRING_SCHEMA, value, TS))) {
            out.add(LineProtocol.encode(p));
        }
        return out;
    }

    private MappingException error(Object value, String... config) {
        return assertThrows(MappingException.class,
                () -> new RecordMapper(parsed(config), skips).map(record("telegraf", 0, 0, null, null, null, value, TS)));
    }

    @Test
    void telegrafLinesArePassedThroughWithTimesConvertedToTheWritePrecision() {
        String telegraf = "cpu,cpu=cpu0,host=a usage_idle=98.5,usage_user=1.25 1700000000123456789\n"
                + "mem,host=a used=123i,active=true,note=\"a \\\"quoted\\\", multi\nline\" 1700000000123456789\n";
        assertEquals(List.of("cpu,cpu=cpu0,host=a usage_idle=98.5,usage_user=1.25 1700000000123456789",
                        "mem,host=a used=123i,active=true,note=\"a \\\"quoted\\\", multi\nline\" 1700000000123456789"),
                lines(telegraf));
        assertEquals(List.of("cpu,host=a v=1i 1700000000123"), lines("cpu,host=a v=1i 1700000000123456789", "influxdb.precision", "ms"),
                "ns input at ms precision: floor");
        assertEquals(List.of("cpu v=1i 1700000000000000000"), lines("cpu v=1i 1700000000", "line.protocol.precision", "s"));
    }

    @Test
    void escapesBlankAndCommentLinesBytesAndMissingTimestamps() {
        assertEquals(List.of("we\\ ird\\,m,t\\=k=v\\ 1 f\\,k=\"x\" " + TS * 1_000_000L),
                lines("\r\n# a comment\n\n  we\\ ird\\,m,t\\=k=v\\ 1 f\\,k=\"x\"\r\n"), "no timestamp: the Kafka record timestamp");
        assertEquals(List.of("m f=1.0 5", "m g=-2.5E-5 6"),
                lines("m f=1 5\nm g=-2.5e-5 6".getBytes(StandardCharsets.UTF_8)), "bytes are read as UTF-8");
        assertEquals(List.of("m a=true,b=false,c=true,d=false 1"), lines("m a=t,b=F,c=True,d=FALSE 1"));
    }

    @Test
    void recordTagsAreAddedToEveryLine() {
        assertEquals(List.of("cpu,env=prod,host=a,src=telegraf v=1i 1", "mem,env=prod,src=telegraf v=2i 2"),
                lines("cpu,host=a v=1i 1\nmem v=2i 2", "tags.static", "env=prod", "tags.topic", "src"));
        MappingException e = error("cpu,env=dev v=1i 1", "tags.static", "env=prod");
        assertTrue(e.getMessage().contains("tag 'env' gets two values"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"cpu", "cpu v=", "cpu v=1x 1", "cpu v=1 abc", "cpu,t v=1", "cpu v=\"open 1", "cpu v=12u 1", "cpu v=NaN 1",
        "cpu v=1i,v=2i 1", "cpu v=99999999999999999999i 1", "cpu,t=a\\ v=1i", ",t=a v=1i 1", "cpu time=1i 1", "cpu v=1i 1 2"})
    void invalidLinesAreErrorRecordsWithTheReason(String bad) {
        MappingException e = error("good v=1i 1\n" + bad);
        assertTrue(!e.getMessage().isEmpty(), bad);
    }

    @Test
    void theReasonNamesTheProblemAndTheLine() {
        MappingException e = error("cpu v=12u 1");
        assertTrue(e.getMessage().startsWith("invalid line protocol (field 'v' has an invalid value '12u' (float, integer with i, boolean or "
                + "double-quoted string; unsigned integers are not supported by InfluxDB 1.x) at character ")
                && e.getMessage().endsWith("): cpu v=12u 1"), e.getMessage());
        assertTrue(error("# only a comment\n").getMessage().contains("holds no point"));
        assertTrue(error(new byte[] {'m', ' ', 'f', '=', '"', (byte) 0xff, '"', ' ', '1'}).getMessage().contains("not valid UTF-8"));
        assertTrue(error("m s=\"a\uD800\" 1").getMessage().contains("lone UTF-16 surrogate"));
        assertEquals(List.of("m2 v=1i 1"), lines("#m v=1i 1\n\tm2 v=1i 1"), "a comment line, and a TAB before a line, as InfluxDB reads them");
    }

    @Test
    void linesAreSplitOnlyOutsideQuotedStrings() {
        assertEquals(List.of("a,t=\"x f=\"1\\n2\" 1", "b f=2i 2"), LineProtocolParser.splitLines("a,t=\"x f=\"1\\n2\" 1\nb f=2i 2"));
        assertEquals(List.of("a f=\"x\ny\" 1", "b f=2i 2"), LineProtocolParser.splitLines("a f=\"x\ny\" 1\r\nb f=2i 2"));
    }
}
