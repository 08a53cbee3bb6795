package io.shopstream.connect.influxdb;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

/**
 * A JDK HttpServer on 127.0.0.1 (ephemeral port) that behaves like InfluxDB 1.6.7's /write and /query as observed
 * (see README): Basic auth, 404 for a missing database, 500 for a missing retention policy, 400 partial write for a
 * field type conflict (the other points of the request ARE stored), points with one series and time merged. Responses
 * can also be scripted, and every request is recorded (body decoded from gzip).
 * <p>
 * It also answers the other write APIs as their sources and documentation describe them (see README, "Write APIs"):
 * InfluxDB 2.x's {@code /api/v2/write} (Token auth, bucket = database, partial writes as 422 {@code {"code":
 * "unprocessable entity","message":"failure writing points to database: partial write: ... dropped=N"}}, an
 * unparseable line as 400 {@code {"code":"invalid",...}} with nothing stored) and InfluxDB 3's
 * {@code /api/v3/write_lp} (Bearer auth, accept_partial: 400 {@code {"error":"partial write of line protocol
 * occurred","data":[{"original_line","line_number","error_message"}...]}} listing at most 100 refused lines).
 */
final class FakeInflux implements AutoCloseable {

    /** One request received. */
    static final class Request {
        final String method;
        final String path;
        final Map<String, String> query;
        final Map<String, String> headers;
        final byte[] rawBody;
        final String body;

        Request(String method, String path, Map<String, String> query, Map<String, String> headers, byte[] rawBody, String body) {
            this.method = method;
            this.path = path;
            this.query = query;
            this.headers = headers;
            this.rawBody = rawBody;
            this.body = body;
        }

        /** @return the lines of a /write body */
        List<String> lines() {
            return splitLines(body);
        }

        String header(String name) {
            return headers.get(name.toLowerCase());
        }
    }

    /** A scripted answer. */
    static final class Reply {
        final int status;
        final String body;
        final Map<String, String> headers;

        Reply(int status, String body, Map<String, String> headers) {
            this.status = status;
            this.body = body;
            this.headers = headers;
        }
    }

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final List<Request> requests = Collections.synchronizedList(new ArrayList<>());
    private final Deque<Reply> script = new ArrayDeque<>();
    private final CountDownLatch release = new CountDownLatch(1);
    private final Set<String> databases = new HashSet<>();
    private final Set<String> retentionPolicies = new HashSet<>();
    /** series+time → fields, as InfluxDB stores them. */
    private final Map<String, Map<String, String>> store = new LinkedHashMap<>();
    /** measurement + field → type letter (i, f, s, b): the first type written wins. */
    private final Map<String, Character> fieldTypes = new HashMap<>();
    private volatile String user = "writer";
    private volatile String password = "s3cret";
    private volatile boolean hang;
    private volatile int maxBodySize = 25_000_000;
    private volatile long retentionCutoff = Long.MIN_VALUE;
    private volatile String token;
    private volatile int maxSeries;
    private volatile String partialWriteSuffix = "";
    private volatile Runnable onWrite = () -> { };

    FakeInflux(String... dbs) throws IOException {
        databases.addAll(List.of(dbs));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(executor);
        server.createContext("/", this::handle);
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    FakeInflux credentials(String user, String password) {
        this.user = user;
        this.password = password;
        return this;
    }

    /** Every later request waits (until close) without answering: the client times out. */
    FakeInflux hang() {
        this.hang = true;
        return this;
    }

    /** Points with a time (as written) below this are refused: "points beyond retention policy". */
    FakeInflux retentionCutoff(long time) {
        this.retentionCutoff = time;
        return this;
    }

    /** Text after a partial write's "dropped=N", as InfluxDB 1.13 answers (" for database: D for retention policy: R"). */
    FakeInflux partialWriteSuffix(String suffix) {
        this.partialWriteSuffix = suffix;
        return this;
    }

    /** Runs on the server thread for every /write, before it is answered (e.g. to advance a test clock). */
    FakeInflux onWrite(Runnable hook) {
        this.onWrite = hook;
        return this;
    }

    /** The token /api/v2/write and /api/v3/write_lp expect ("Token ..." and "Bearer ..."). */
    FakeInflux token(String token) {
        this.token = token;
        return this;
    }

    /** New series beyond this many are refused ("max-series-per-database limit exceeded"); 0 = no limit. */
    FakeInflux maxSeries(int series) {
        this.maxSeries = series;
        return this;
    }

    FakeInflux maxBodySize(int bytes) {
        this.maxBodySize = bytes;
        return this;
    }

    FakeInflux retentionPolicy(String db, String rp) {
        synchronized (this) {
            retentionPolicies.add(db + "." + rp);
        }
        return this;
    }

    /** The next /write requests get these answers, in order, before the simulation takes over again. */
    synchronized FakeInflux reply(int status, String body, String... headerPairs) {
        Map<String, String> h = new LinkedHashMap<>();
        for (int i = 0; i + 1 < headerPairs.length; i += 2) {
            h.put(headerPairs[i], headerPairs[i + 1]);
        }
        script.add(new Reply(status, body, h));
        return this;
    }

    /** Declares a field's type as if points had been written before (for type conflicts). */
    synchronized FakeInflux fieldType(String measurement, String field, char type) {
        fieldTypes.put(measurement + "\u0000" + field, type);
        return this;
    }

    List<Request> requests() {
        synchronized (requests) {
            return new ArrayList<>(requests);
        }
    }

    List<Request> writes() {
        List<Request> out = new ArrayList<>();
        for (Request r : requests()) {
            if (isWrite(r.path)) {
                out.add(r);
            }
        }
        return out;
    }

    /** @return stored points as "series fields time" lines (fields sorted by key), in first-write order */
    synchronized List<String> stored() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Map<String, String>> e : store.entrySet()) {
            int sp = e.getKey().lastIndexOf(' ');
            StringBuilder fields = new StringBuilder();
            new java.util.TreeMap<>(e.getValue()).forEach((k, v) -> fields.append(fields.length() == 0 ? "" : ",").append(k).append('=').append(v));
            out.add(e.getKey().substring(0, sp) + " " + fields + e.getKey().substring(sp));
        }
        return out;
    }

    synchronized Set<String> databases() {
        return new HashSet<>(databases);
    }

    synchronized Set<String> retentionPolicies() {
        return new HashSet<>(retentionPolicies);
    }

    @Override
    public void close() {
        release.countDown();
        server.stop(0);
        executor.shutdownNow();
    }

    // ------------------------------------------------------------------ handling

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            byte[] raw = ex.getRequestBody().readAllBytes();
            Map<String, String> headers = new HashMap<>();
            ex.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(), String.join(",", v)));
            String body;
            if ("gzip".equalsIgnoreCase(headers.get("content-encoding"))) {
                try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(raw))) {
                    body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            } else {
                body = new String(raw, StandardCharsets.UTF_8);
            }
            Map<String, String> query = parseQuery(ex.getRequestURI().getRawQuery());
            String path = ex.getRequestURI().getPath();
            if (path.endsWith("/query")) {
                query.putAll(parseQuery(body));
            }
            requests.add(new Request(ex.getRequestMethod(), path, query, headers, raw, body));
            if (hang) {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
            if (isWrite(path)) {
                onWrite.run();
            }
            Reply reply = isWrite(path) ? nextScripted() : null;
            if (reply == null) {
                reply = simulate(path, query, headers, raw, body);
            }
            for (Map.Entry<String, String> h : reply.headers.entrySet()) {
                ex.getResponseHeaders().add(h.getKey(), h.getValue());
            }
            ex.getResponseHeaders().add("Content-Type", "application/json");
            byte[] out = reply.body.getBytes(StandardCharsets.UTF_8);
            if (reply.status == 204 || out.length == 0) {
                ex.sendResponseHeaders(reply.status, -1);
            } else {
                ex.sendResponseHeaders(reply.status, out.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(out);
                }
            }
        }
    }

    private synchronized Reply nextScripted() {
        return script.poll();
    }

    private static boolean isWrite(String path) {
        return path.endsWith("/write") || path.endsWith("/api/v3/write_lp");
    }

    private synchronized Reply simulate(String path, Map<String, String> query, Map<String, String> headers, byte[] raw, String body) {
        boolean v2 = path.endsWith("/api/v2/write");
        boolean v3 = path.endsWith("/api/v3/write_lp");
        if (v2 || v3) {
            if (!(v2 ? "Token " : "Bearer ").concat(String.valueOf(token)).equals(headers.get("authorization"))) {
                return new Reply(401, v2 ? "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}"
                        : "{\"error\":\"the request was not authenticated\"}", Map.of());
            }
        } else if (!authorized(headers.get("authorization"))) {
            return new Reply(401, "{\"error\":\"authorization failed\"}", Map.of());
        }
        if (path.endsWith("/query")) {
            return query(query.getOrDefault("q", ""));
        }
        if (!isWrite(path)) {
            return new Reply(404, "404 page not found\n", Map.of());
        }
        if (raw.length > maxBodySize) {
            return new Reply(413, "{\"error\":\"Request Entity Too Large\"}", Map.of());
        }
        if (v3) {
            databases.add(query.get("db")); // InfluxDB 3 creates a database on its first write
            return v3Answer(ingest(body, false));
        }
        String db = v2 ? query.get("bucket") : query.get("db");
        if (db == null || !databases.contains(db)) {
            return v2 ? new Reply(404, "{\"code\":\"not found\",\"message\":\"bucket \\\"" + db + "\\\" not found\"}", Map.of())
                    : new Reply(404, "{\"error\":\"database not found: \\\"" + db + "\\\"\"}", Map.of());
        }
        String rp = query.get("rp");
        if (rp != null && !retentionPolicies.contains(db + "." + rp)) {
            return new Reply(500, "{\"error\":\"retention policy not found: " + rp + "\"}", Map.of());
        }
        Ingest result = ingest(body, v2);
        if (result.unparseable != null) {
            return v2 ? new Reply(400, "{\"code\":\"invalid\",\"message\":\"unable to parse '" + result.unparseable + "': bad line\"}", Map.of())
                    : new Reply(400, "{\"error\":\"unable to parse '" + result.unparseable + "': bad line\"}", Map.of());
        }
        if (result.dropped > 0) {
            String message = "partial write: " + result.firstReason + " dropped=" + result.dropped + partialWriteSuffix;
            return v2 ? new Reply(422, "{\"code\":\"unprocessable entity\",\"message\":\"failure writing points to database: " + message + "\"}",
                    Map.of()) : new Reply(400, "{\"error\":\"" + message + "\"}", Map.of());
        }
        return new Reply(204, "", Map.of());
    }

    /** What one body did to the store: each refused line (number from 1, text, reason), and the first unparseable line. */
    private static final class Ingest {
        final List<Object[]> refused = new ArrayList<>();
        int dropped;
        String firstReason;
        String unparseable;

        void refuse(int number, String line, String reason) {
            refused.add(new Object[] {number, line, reason});
            dropped++;
            if (firstReason == null) {
                firstReason = reason;
            }
        }
    }

    /**
     * Stores the points of the body, refusing type conflicts, points beyond the retention cutoff and new series past
     * the series limit. A line that does not parse stops it (1.x: what came before is stored); {@code atomic} (2.x)
     * checks every line before storing any.
     */
    private Ingest ingest(String body, boolean atomic) {
        Ingest result = new Ingest();
        List<String> lines = splitLines(body);
        for (String line : lines) {
            if (splitUnescaped(line, ' ').length != 3) {
                if (atomic) {
                    result.unparseable = line;
                    return result;
                }
                break;
            }
        }
        int number = 0;
        for (String line : lines) {
            number++;
            String[] parts = splitUnescaped(line, ' ');
            if (parts.length != 3) {
                result.unparseable = line;
                return result;
            }
            String measurement = splitUnescaped(parts[0], ',')[0];
            if (Long.parseLong(parts[2]) < retentionCutoff) {
                result.refuse(number, line, "points beyond retention policy");
                continue;
            }
            if (maxSeries > 0 && !seriesExists(parts[0]) && series() >= maxSeries) {
                result.refuse(number, line, "max-series-per-database limit exceeded: (" + maxSeries + ")");
                continue;
            }
            Map<String, String> fields = new LinkedHashMap<>();
            String conflict = null;
            for (String kv : splitUnescaped(parts[1], ',')) {
                String[] pair = splitUnescaped(kv, '=');
                char type = type(pair[1]);
                Character known = fieldTypes.putIfAbsent(measurement + "\u0000" + pair[0], type);
                if (known != null && known != type) {
                    conflict = "field type conflict: input field \\\"" + pair[0] + "\\\" on measurement \\\"" + measurement
                            + "\\\" is type " + name(type) + ", already exists as type " + name(known);
                }
                fields.put(pair[0], pair[1]);
            }
            if (conflict != null) {
                result.refuse(number, line, conflict);
                continue;
            }
            store.computeIfAbsent(parts[0] + " " + parts[2], k -> new LinkedHashMap<>()).putAll(fields);
        }
        return result;
    }

    private boolean seriesExists(String series) {
        for (String key : store.keySet()) {
            if (key.substring(0, key.lastIndexOf(' ')).equals(series)) {
                return true;
            }
        }
        return false;
    }

    private int series() {
        Set<String> series = new HashSet<>();
        for (String key : store.keySet()) {
            series.add(key.substring(0, key.lastIndexOf(' ')));
        }
        return series.size();
    }

    /** InfluxDB 3 with accept_partial=true: the refused lines listed, at most 100. */
    private static Reply v3Answer(Ingest result) {
        if (result.refused.isEmpty() && result.unparseable == null) {
            return new Reply(204, "", Map.of());
        }
        StringBuilder data = new StringBuilder();
        for (Object[] r : result.refused.subList(0, Math.min(100, result.refused.size()))) {
            data.append(data.length() == 0 ? "" : ",").append("{\"original_line\":\"").append(((String) r[1]).replace("\"", "\\\""))
                    .append("\",\"line_number\":").append(r[0]).append(",\"error_message\":\"")
                    .append(((String) r[2]).replace("\\\"", "'")).append("\"}");
        }
        return new Reply(400, "{\"error\":\"partial write of line protocol occurred\",\"data\":[" + data + "]}", Map.of());
    }

    private Reply query(String q) {
        java.util.regex.Matcher db = java.util.regex.Pattern.compile("^CREATE DATABASE \"(.*)\"$").matcher(q);
        if (db.matches()) {
            databases.add(db.group(1));
            return new Reply(200, "{\"results\":[{\"statement_id\":0}]}", Map.of());
        }
        java.util.regex.Matcher rp = java.util.regex.Pattern.compile("^CREATE RETENTION POLICY \"(.*)\" ON \"(.*)\" DURATION (\\S+) REPLICATION 1$")
                .matcher(q);
        if (rp.matches()) {
            if (!databases.contains(rp.group(2))) {
                return new Reply(200, "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: " + rp.group(2) + "\"}]}", Map.of());
            }
            retentionPolicies.add(rp.group(2) + "." + rp.group(1));
            return new Reply(200, "{\"results\":[{\"statement_id\":0}]}", Map.of());
        }
        return new Reply(400, "{\"error\":\"error parsing query\"}", Map.of());
    }

    private boolean authorized(String authorization) {
        if (user == null) {
            return true;
        }
        String expected = "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
        return expected.equals(authorization);
    }

    private static char type(String value) {
        if (value.startsWith("\"")) {
            return 's';
        }
        if (value.equals("true") || value.equals("false")) {
            return 'b';
        }
        return value.endsWith("i") ? 'i' : 'f';
    }

    private static String name(char type) {
        switch (type) {
            case 'i': return "integer";
            case 's': return "string";
            case 'b': return "boolean";
            default: return "float";
        }
    }

    static Map<String, String> parseQuery(String raw) {
        Map<String, String> out = new LinkedHashMap<>();
        if (raw == null || raw.isEmpty()) {
            return out;
        }
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            String v = eq < 0 ? "" : pair.substring(eq + 1);
            out.put(URLDecoder.decode(k, StandardCharsets.UTF_8), URLDecoder.decode(v, StandardCharsets.UTF_8));
        }
        return out;
    }

    /** Splits a body into lines on newlines outside double-quoted string field values. */
    static List<String> splitLines(String body) {
        List<String> lines = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c == '\\' && i + 1 < body.length()) {
                cur.append(c).append(body.charAt(++i));
                continue;
            }
            if (c == '"') {
                quoted = !quoted;
            }
            if (c == '\n' && !quoted) {
                if (cur.length() > 0) {
                    lines.add(cur.toString());
                }
                cur.setLength(0);
                continue;
            }
            cur.append(c);
        }
        if (cur.length() > 0) {
            lines.add(cur.toString());
        }
        return lines;
    }

    /** Splits on {@code sep} where it is neither escaped nor inside a double-quoted string. */
    static String[] splitUnescaped(String s, char sep) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                cur.append(c).append(s.charAt(++i));
                continue;
            }
            if (c == '"') {
                quoted = !quoted;
            }
            if (c == sep && !quoted) {
                parts.add(cur.toString());
                cur.setLength(0);
                if (sep == '=') {
                    parts.add(s.substring(i + 1));
                    return parts.toArray(new String[0]);
                }
                continue;
            }
            cur.append(c);
        }
        parts.add(cur.toString());
        return parts.toArray(new String[0]);
    }
}
