package io.shopstream.connect.influxdb;

import java.util.Locale;

/**
 * A unit of time as used by the connector: the unit of integer event times ({@code event.time.unit}) and the
 * write precision ({@code influxdb.precision}, sent as the {@code precision} parameter of {@code /write}).
 * All conversions are exact integer arithmetic on nanoseconds; nothing goes through floating point.
 */
public enum Precision {
    NS("ns", "n", "nanosecond", 1L),
    US("us", "u", "microsecond", 1_000L),
    MS("ms", "ms", "millisecond", 1_000_000L),
    S("s", "s", "second", 1_000_000_000L);

    /** InfluxDB 1.x refuses times outside this range (observed on 1.6.7: "time outside range ..."). */
    public static final long MIN_NANOS = -9_223_372_036_854_775_806L;
    public static final long MAX_NANOS = 9_223_372_036_854_775_806L;

    private final String configName;
    private final String writeParam;
    private final String unitName;
    private final long nanos;

    Precision(String configName, String writeParam, String unitName, long nanos) {
        this.configName = configName;
        this.writeParam = writeParam;
        this.unitName = unitName;
        this.nanos = nanos;
    }

    /** @return the name used in the connector configuration: ns, us, ms or s */
    public String configName() {
        return configName;
    }

    /** @return the value of the {@code precision} query parameter of InfluxDB 1.x {@code /write} */
    public String writeParam() {
        return writeParam;
    }

    /** @return the unit's name, as InfluxDB 3's /api/v3/write_lp takes it for its precision parameter: nanosecond, ... */
    public String unitName() {
        return unitName;
    }

    /** @return nanoseconds in one unit */
    public long nanos() {
        return nanos;
    }

    /** @return true when this unit is strictly finer than {@code other} (e.g. ns is finer than ms) */
    public boolean finerThan(Precision other) {
        return nanos < other.nanos;
    }

    /**
     * @return {@code value} of this unit in nanoseconds
     * @throws ArithmeticException when the result does not fit in a long
     */
    public long toNanos(long value) {
        return Math.multiplyExact(value, nanos);
    }

    /**
     * Converts nanoseconds to this unit, truncating toward negative infinity (floor): the written time is never
     * later than the source time, also before 1970.
     */
    public long fromNanosFloor(long nanosValue) {
        return Math.floorDiv(nanosValue, nanos);
    }

    /** @return the unit named {@code name} (ns, us, ms, s; case-insensitive) */
    public static Precision parse(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (Precision p : values()) {
            if (p.configName.equals(n)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown time unit '" + name + "' (expected ns, us, ms or s)");
    }

    /** @return the config names of all units, for validators and docs */
    public static String[] configNames() {
        Precision[] values = values();
        String[] names = new String[values.length];
        for (int i = 0; i < values.length; i++) {
            names[i] = values[i].configName;
        }
        return names;
    }
}
