package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A private InfluxDB 1.x server for one test class: the real {@code influxd} binary, started with the full default
 * configuration it prints ({@code influxd config}) rewritten so that its meta, data and WAL directories live in a
 * temporary directory and both its HTTP address and its RPC {@code bind-address} are free loopback ports (and any
 * further settings a test asks for, e.g. {@code [data] max-series-per-database}). No authentication. Stopped (and its
 * directory deleted) by {@link #close()}. {@link #version()} is what the server says in {@code X-Influxdb-Version}:
 * InfluxDB 1.8 and later also serve {@code /api/v2/write} (bucket {@code db/rp}, token {@code user:password}).
 * <p>
 * The binary is {@code -Dinfluxd.binary=...} (the project's build passes the local stack's: InfluxDB 1.13.2 built from
 * source by scripts/setup.sh into ~/.cache/shopstream/influxdb-1.13.2/influxd), else the environment variable
 * {@code INFLUXD_BINARY}, else {@code /usr/bin/influxd}. A missing binary FAILS the test (it is never skipped); the build
 * leaves the tests that need it out only when asked to ({@code -Dinfluxd.tests=exclude}, see the module README).
 */
final class LocalInfluxd implements AutoCloseable {
    static final String BINARY_PROPERTY = "influxd.binary";
    static final String BINARY_ENV = "INFLUXD_BINARY";
    private static final Pattern COUNT = Pattern.compile("\"values\":\\[\\[\"[^\"]*\",(\\d+)]]");

    private final Path dir;
    private final Process process;
    private final int httpPort;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private String version = "?";

    private LocalInfluxd(Path dir, Process process, int httpPort) {
        this.dir = dir;
        this.process = process;
        this.httpPort = httpPort;
    }

    static Path binary() {
        String configured = System.getProperty(BINARY_PROPERTY);
        if (configured == null || configured.isBlank()) {
            configured = System.getenv(BINARY_ENV);
        }
        Path binary = Path.of(configured == null || configured.isBlank() ? "/usr/bin/influxd" : configured.trim());
        if (!Files.isExecutable(binary)) {
            fail("No InfluxDB 1.x server binary at " + binary + ": these tests run the connector in a real Connect worker against a "
                    + "real influxd. Run scripts/setup.sh (it builds InfluxDB 1.13.2 into ~/.cache/shopstream/influxdb-1.13.2/influxd "
                    + "and passes it to this build), or point "
                    + "-D" + BINARY_PROPERTY + "=/path/to/influxd or the environment variable " + BINARY_ENV + " at one. Only a build "
                    + "without influxd by design (the Compose image's Maven stage) leaves these tests out, with -Dinfluxd.tests=exclude.");
        }
        return binary;
    }

    static LocalInfluxd start() throws IOException, InterruptedException {
        return start(Map.of());
    }

    /** @param settings "[section] key" → value (TOML, quoted where a string) set in the configuration */
    static LocalInfluxd start(Map<String, String> settings) throws IOException, InterruptedException {
        Path binary = binary();
        Path dir = Files.createTempDirectory("shopstream-influxd-");
        int httpPort = freePort();
        int rpcPort = freePort();
        Process config = new ProcessBuilder(binary.toString(), "config").redirectErrorStream(false)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String defaults = new String(config.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!config.waitFor(30, TimeUnit.SECONDS) || config.exitValue() != 0) {
            fail(binary + " config failed (exit " + (config.isAlive() ? "none" : config.exitValue()) + ")");
        }
        Path conf = dir.resolve("influxdb.conf");
        Files.writeString(conf, rewrite(defaults, dir, httpPort, rpcPort, settings));
        Process process = new ProcessBuilder(binary.toString(), "run", "-config", conf.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("influxd.log").toFile()).start();
        LocalInfluxd influxd = new LocalInfluxd(dir, process, httpPort);
        influxd.awaitReady();
        return influxd;
    }

    /** The default configuration with private directories and ports; no statistics of its own, quiet logs. */
    static String rewrite(String defaults, Path dir, int httpPort, int rpcPort, Map<String, String> settings) {
        StringBuilder out = new StringBuilder();
        String section = "";
        for (String line : defaults.split("\n", -1)) {
            String t = line.trim();
            if (t.startsWith("[")) {
                section = t;
            }
            String key = t.contains("=") && !t.startsWith("#") ? t.substring(0, t.indexOf('=')).trim() : "";
            String value = switch (section + " " + key) {
                case " bind-address" -> quoted("127.0.0.1:" + rpcPort);
                case " reporting-enabled" -> "false"; // Debian's 1.6.7 prints this key
                case " reporting-disabled" -> "true"; // upstream 1.x (1.13) prints this one
                case "[meta] dir" -> quoted(dir.resolve("meta").toString());
                case "[data] dir" -> quoted(dir.resolve("data").toString());
                case "[data] wal-dir" -> quoted(dir.resolve("wal").toString());
                case "[data] query-log-enabled" -> "false";
                case "[monitor] store-enabled" -> "false";
                case "[http] bind-address" -> quoted("127.0.0.1:" + httpPort);
                case "[http] log-enabled" -> "false";
                case "[http] bind-socket" -> quoted(dir.resolve("influxd.sock").toString());
                case "[logging] level" -> quoted("warn");
                default -> settings.get(section + " " + key);
            };
            out.append(value == null ? line : line.substring(0, line.indexOf('=') + 1) + " " + value).append('\n');
        }
        return out.toString();
    }

    private static String quoted(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private void awaitReady() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                fail("influxd exited with " + process.exitValue() + ": " + log());
            }
            try {
                HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(url() + "/ping")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.discarding());
                if (r.statusCode() == 204) {
                    version = r.headers().firstValue("X-Influxdb-Version").orElse("?");
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(100);
        }
        fail("influxd did not answer /ping within 60 s: " + log());
    }

    String log() {
        try {
            return Files.readString(dir.resolve("influxd.log"));
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    /** @return the server's version, e.g. 1.6.7~rc0 */
    String version() {
        return version;
    }

    /** @return true when the server is InfluxDB 1.8 or later, which also serves /api/v2/write */
    boolean servesApiV2Write() {
        Matcher m = Pattern.compile("^v?(\\d+)\\.(\\d+)").matcher(version);
        return m.find() && (Integer.parseInt(m.group(1)) > 1 || Integer.parseInt(m.group(1)) == 1 && Integer.parseInt(m.group(2)) >= 8);
    }

    String url() {
        return "http://127.0.0.1:" + httpPort;
    }

    /** Runs InfluxQL through POST /query; @return the JSON answer */
    String query(String db, String q) throws IOException, InterruptedException {
        String form = (db == null ? "" : "db=" + enc(db) + "&") + "q=" + enc(q);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url() + "/query"))
                .header("Content-Type", "application/x-www-form-urlencoded").POST(HttpRequest.BodyPublishers.ofString(form)).build(),
                HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200 || r.body().contains("\"error\"")) {
            throw new IOException("query '" + q + "' failed: HTTP " + r.statusCode() + " " + r.body());
        }
        return r.body();
    }

    void createDatabase(String db) throws IOException, InterruptedException {
        query(null, "CREATE DATABASE \"" + db + "\"");
    }

    /** @return how many values the field has in the measurement (over all series), 0 when none */
    long count(String db, String measurement, String field) throws IOException, InterruptedException {
        Matcher m = COUNT.matcher(query(db, "SELECT count(\"" + field + "\") FROM \"" + measurement + "\""));
        return m.find() ? Long.parseLong(m.group(1)) : 0L;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    @Override
    public void close() throws IOException {
        process.destroy();
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(15, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
