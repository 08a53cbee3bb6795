package io.shopstream.connect.influxdb;

import java.util.Locale;

/** The HTTP write API the sink uses ({@code influxdb.api}): endpoint, precision parameter and authorization scheme. */
public enum WriteApi {
    /** InfluxDB 1.x {@code POST /write?db=&rp=&precision=n|u|ms|s}, HTTP Basic auth. */
    V1("/write"),
    /** InfluxDB 2.x (and 1.8+) {@code POST /api/v2/write?org=&bucket=&precision=ns|us|ms|s}, {@code Authorization: Token}. */
    V2("/api/v2/write"),
    /** InfluxDB 3 {@code POST /api/v3/write_lp?db=&precision=nanosecond|...&accept_partial=true}, {@code Authorization: Bearer}. */
    V3("/api/v3/write_lp");

    private final String path;

    WriteApi(String path) {
        this.path = path;
    }

    /** @return the endpoint's path below the base URL */
    public String path() {
        return path;
    }

    /** @return v1, v2 or v3 */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @return the precision parameter's value this API takes for the precision */
    public String precisionParam(Precision precision) {
        return switch (this) {
            case V1 -> precision.writeParam();
            case V2 -> precision.configName();
            case V3 -> precision.unitName();
        };
    }

    public static WriteApi parse(String configName) {
        return valueOf(configName.trim().toUpperCase(Locale.ROOT));
    }

    public static String[] configNames() {
        WriteApi[] values = values();
        String[] names = new String[values.length];
        for (int i = 0; i < values.length; i++) {
            names[i] = values[i].configName();
        }
        return names;
    }
}
