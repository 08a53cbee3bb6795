package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LineProtocolTest {

    private static Point point(String measurement, Map<String, String> tags, Map<String, Object> fields, long time) {
        return new Point(measurement, tags, fields, time, null);
    }

    private static Map<String, Object> fields(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void measurementEscapesCommaAndSpaceOnly() {
        assertEquals("cpu\\,load\\ avg=1", LineProtocol.escapeMeasurement("cpu,load avg=1"));
        assertEquals("a\\,b\\ c=d\"e f=1i 5",
                LineProtocol.encode(point("a,b c=d\"e", Map.of(), fields("f", 1L), 5)));
    }

    @Test
    void tagKeysTagValuesAndFieldKeysEscapeCommaEqualsAndSpace() {
        Point p = point("m", Map.of("k,e y=", "v,a l=ue"), fields("f,i e=ld", 1L), 7);
        assertEquals("m,k\\,e\\ y\\==v\\,a\\ l\\=ue f\\,i\\ e\\=ld=1i 7", LineProtocol.encode(p));
        assertEquals("a\\,b\\=c\\ d\"e", LineProtocol.escapeName("a,b=c d\"e"));
    }

    @Test
    void stringFieldValuesEscapeDoubleQuoteAndBackslashOnly() {
        assertEquals("\"say \\\"hi\\\" to C:\\\\dir, a=b c\"", LineProtocol.quoteString("say \"hi\" to C:\\dir, a=b c"));
        assertEquals("m s=\"a\\\\\" 1", LineProtocol.encode(point("m", Map.of(), fields("s", "a\\"), 1)));
    }

    @Test
    void newlineInsideStringFieldIsWrittenAsIs() {
        // InfluxDB 1.6.7 stores "x\ny" unchanged from a quoted value spanning a raw newline (README, observed)
        assertEquals("m s=\"x\ny\",t=\"c\rd\" 1", LineProtocol.encode(point("m", Map.of(), fields("s", "x\ny", "t", "c\rd"), 1)));
    }

    @Test
    void valuesOfEachType() {
        Point p = point("m", Map.of("b", "2", "a", "1"),
                fields("i", 42L, "neg", -9223372036854775808L, "f", 1.5, "tiny", 1.0E-5, "big", 1.0E20, "whole", 3.0,
                        "t", true, "no", false, "s", "x"), 1_700_000_000_000_000_000L);
        assertEquals("m,a=1,b=2 i=42i,neg=-9223372036854775808i,f=1.5,tiny=1.0E-5,big=1.0E20,whole=3.0,t=true,no=false,s=\"x\" "
                + "1700000000000000000", LineProtocol.encode(p));
    }

    @Test
    void floatsRoundTripExactly() {
        for (double d : new double[] {0.1, 1.0 / 3, Math.PI, -4.9E-324, Double.MAX_VALUE, 1.0E-5, 123456789.123456789, -0.0}) {
            assertEquals(Double.doubleToLongBits(d), Double.doubleToLongBits(Double.parseDouble(LineProtocol.formatDouble(d))));
        }
        assertThrows(IllegalArgumentException.class, () -> LineProtocol.formatDouble(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> LineProtocol.formatDouble(Double.POSITIVE_INFINITY));
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\nb", "a\rb", "\n"})
    void newlinesAreRefusedInEveryName(String bad) {
        assertThrows(MappingException.class, () -> point(bad, Map.of(), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of(bad, "v"), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of("k", bad), fields("f", 1L), 1));
        MappingException e = assertThrows(MappingException.class, () -> point("m", Map.of(), fields(bad, 1L), 1));
        assertTrue(e.getMessage().contains("newline"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"end\\", "a\\,b", "a\\ b", "a\\=b", "a\\\"b", "a\\\\,b"})
    void backslashesThatInfluxCannotReadBackAreRefused(String bad) {
        assertThrows(MappingException.class, () -> point(bad, Map.of(), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of(bad, "v"), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of("k", bad), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of(), fields(bad, 1L), 1));
    }

    @Test
    void backslashesBeforeOrdinaryCharactersAreWrittenLiterally() {
        // observed on 1.6.7: c\d and e\\f are stored exactly as written
        assertEquals("C:\\dir,t=c\\d,u=e\\\\f k\\j=1i 1",
                LineProtocol.encode(point("C:\\dir", Map.of("t", "c\\d", "u", "e\\\\f"), fields("k\\j", 1L), 1)));
    }

    @Test
    void timeIsNotAKeyEmptyNamesAndNoFieldsAreRefused() {
        assertThrows(MappingException.class, () -> point("m", Map.of("time", "v"), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of(), fields("time", 1L), 1));
        assertEquals("m,t=time f=1i 1", LineProtocol.encode(point("m", Map.of("t", "time"), fields("f", 1L), 1)));
        assertThrows(MappingException.class, () -> point("", Map.of(), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of("", "v"), fields("f", 1L), 1));
        assertThrows(MappingException.class, () -> point("m", Map.of(), fields("", 1L), 1));
        MappingException e = assertThrows(MappingException.class, () -> point("m", Map.of(), Map.of(), 1));
        assertTrue(e.getMessage().contains("no field"));
    }

    @Test
    void seriesKeyAndSizes() {
        Point p = point("m é", Map.of("t", "€"), fields("f", 1L), 9);
        LineProtocol.LineBuffer encoded = new LineProtocol.LineBuffer();
        LineProtocol.encode(p, encoded);
        assertEquals("m\\ é,t=€", new String(encoded.bytes(), 0, encoded.seriesLength(), StandardCharsets.UTF_8));
        String line = LineProtocol.encode(p);
        assertEquals(line.getBytes(StandardCharsets.UTF_8).length, encoded.length());
        assertArrayEquals(line.getBytes(StandardCharsets.UTF_8), encoded.copy());
        LineProtocol.encode(point("m", Map.of(), fields("s", "\uD83D\uDE00"), 1), encoded);
        assertEquals("m s=\"\" 1".length() + 4, encoded.length()); // one supplementary character = 4 UTF-8 bytes
    }

    @ParameterizedTest
    @ValueSource(strings = {"#m", "#", "\tm", "\u0000m"})
    void measurementsInfluxWouldDropOrRenameAreRefusedWithAReason(String bad) {
        MappingException e = assertThrows(MappingException.class, () -> point(bad, Map.of(), fields("f", 1L), 1));
        assertTrue(e.getMessage().startsWith("measurement '") && (e.getMessage().contains("comment") || e.getMessage().contains("strips")),
                e.getMessage());
        // elsewhere these characters are harmless
        assertEquals("m#,t=#x #f=1i 1", LineProtocol.encode(point("m#", Map.of("t", "#x"), fields("#f", 1L), 1)));
    }

    @Test
    void loneSurrogatesAreRefusedEverywhereAndPairsAreWritten() {
        String lone = "a\uD83Db"; // a high surrogate without its low half: getBytes(UTF_8) would write '?'
        String reversed = "\uDE00\uD83D";
        for (String bad : List.of(lone, reversed, "\uDC00")) {
            MappingException e = assertThrows(MappingException.class, () -> point(bad, Map.of(), fields("f", 1L), 1));
            assertTrue(e.getMessage().contains("lone UTF-16 surrogate"), e.getMessage());
            assertThrows(MappingException.class, () -> point("m", Map.of(bad, "v"), fields("f", 1L), 1));
            assertThrows(MappingException.class, () -> point("m", Map.of("k", bad), fields("f", 1L), 1));
            assertThrows(MappingException.class, () -> point("m", Map.of(), fields(bad, 1L), 1));
            e = assertThrows(MappingException.class, () -> point("m", Map.of(), fields("s", bad), 1));
            assertTrue(e.getMessage().startsWith("string field 's'"), e.getMessage());
        }
        String emoji = "ok \uD83D\uDE00";
        String line = LineProtocol.encode(point("m", Map.of("t", emoji), fields("s", emoji), 1));
        assertEquals("m,t=ok\\ \uD83D\uDE00 s=\"ok \uD83D\uDE00\" 1", line);
        LineProtocol.LineBuffer encoded = new LineProtocol.LineBuffer();
        LineProtocol.encode(point("m", Map.of("t", emoji), fields("s", emoji), 1), encoded);
        assertArrayEquals(line.getBytes(StandardCharsets.UTF_8), encoded.copy());
    }
}
