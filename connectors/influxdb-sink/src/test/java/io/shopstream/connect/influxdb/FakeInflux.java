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
            if (r.path.endsWith("/write")) {
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
            if (path.endsWith("/write")) {
                onWrite.run();
            }
            Reply reply = path.endsWith("/write") ? nextScripted() : null;
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

    private synchronized Reply simulate(String path, Map<String, String> query, Map<String, String> headers, byte[] raw, String body) {
        if (!authorized(headers.get("authorization"))) {
            return new Reply(401, "{\"error\":\"authorization failed\"}", Map.of());
        }
        if (path.endsWith("/query")) {
            return query(query.getOrDefault("q", ""));
        }
        if (!path.endsWith("/write")) {
            return new Reply(404, "404 page not found\n", Map.of());
        }
        if (raw.length > maxBodySize) {
            return new Reply(413, "{\"error\":\"Request Entity Too Large\"}", Map.of());
        }
        String db = query.get("db");
        if (db == null || !databases.contains(db)) {
            return new Reply(404, "{\"error\":\"database not found: \\\"" + db + "\\\"\"}", Map.of());
        }
        String rp = query.get("rp");
        if (rp != null && !retentionPolicies.contains(db + "." + rp)) {
            return new Reply(500, "{\"error\":\"retention policy not found: " + rp + "\"}", Map.of());
        }
        int dropped = 0;
        String conflict = null;
        boolean beyondRetention = false;
        for (String line : splitLines(body)) {
            String[] parts = splitUnescaped(line, ' ');
            if (parts.length != 3) {
                return new Reply(400, "{\"error\":\"unable to parse '" + line + "': bad line\"}", Map.of());
            }
            String measurement = splitUnescaped(parts[0], ',')[0];
            if (Long.parseLong(parts[2]) < retentionCutoff) {
                dropped++;
                beyondRetention = true;
                continue;
            }
            Map<String, String> fields = new LinkedHashMap<>();
            boolean bad = false;
            for (String kv : splitUnescaped(parts[1], ',')) {
                String[] pair = splitUnescaped(kv, '=');
                char type = type(pair[1]);
                Character known = fieldTypes.putIfAbsent(measurement + "\u0000" + pair[0], type);
                if (known != null && known != type) {
                    bad = true;
                    conflict = "input field \\\"" + pair[0] + "\\\" on measurement \\\"" + measurement + "\\\" is type " + name(type)
                            + ", already exists as type " + name(known);
                }
                fields.put(pair[0], pair[1]);
            }
            if (bad) {
                dropped++;
                continue;
            }
            store.computeIfAbsent(parts[0] + " " + parts[2], k -> new LinkedHashMap<>()).putAll(fields);
        }
        if (dropped > 0) {
            String reason = beyondRetention ? "points beyond retention policy" : "field type conflict: " + conflict;
            return new Reply(400, "{\"error\":\"partial write: " + reason + " dropped=" + dropped + partialWriteSuffix + "\"}", Map.of());
        }
        return new Reply(204, "", Map.of());
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
