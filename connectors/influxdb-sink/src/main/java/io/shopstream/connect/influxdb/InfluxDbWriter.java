package io.shopstream.connect.influxdb;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.Base64;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Synchronous writes to InfluxDB 1.x {@code POST /write}: every request's status is seen and classified.
 * <ul>
 *   <li>204: written.</li>
 *   <li>400 (partial write: type conflict, unable to parse, beyond retention policy, ...): InfluxDB stored the good
 *       points and dropped the bad ones without saying which; the lines are bisected (re-writing a good point is
 *       idempotent) down to the single lines it refuses, which are returned as rejected with InfluxDB's reason.</li>
 *   <li>413: the lines are split and sent in halves; a single line still too large is rejected.</li>
 *   <li>404 database not found: created when {@code influxdb.db.auto.create=true}, else fatal.</li>
 *   <li>500 retention policy not found: created when auto-create is on and {@code influxdb.rp.duration} is set, else
 *       fatal.</li>
 *   <li>401/403: fatal, naming the user and the settings.</li>
 *   <li>5xx, 429, timeout, connection refused: retriable (with Retry-After when sent); the caller keeps the lines.</li>
 * </ul>
 * The password only ever goes into the Authorization header.
 */
public final class InfluxDbWriter {
    private static final Logger log = LoggerFactory.getLogger(InfluxDbWriter.class);
    /** The most of an answer's body that is read: InfluxDB's answers are short JSON documents. */
    static final int MAX_RESPONSE_BYTES = 64 * 1024;
    private static final Pattern ERROR_FIELD = Pattern.compile("\"error\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** Receives one call per HTTP request to /write, for metrics. */
    public interface Listener {
        /**
         * @param status    HTTP status, or -1 when no response came (timeout, connection refused)
         * @param latencyMs time until the response (or failure)
         * @param bodyBytes bytes of the request body as sent (compressed when gzip is on)
         * @param lines     points in the request
         */
        void onRequest(int status, long latencyMs, long bodyBytes, int lines);
    }

    /**
     * Why the write stopped before every line was written or rejected.
     *
     * @param retryAfterMs the delay InfluxDB (or a proxy) asked for with Retry-After, or null
     */
    public record Failure(boolean retriable, String message, Long retryAfterMs) {
        @Override
        public String toString() {
            return (retriable ? "retriable: " : "fatal: ") + message;
        }
    }

    /** The outcome of {@link #write}: which lines were stored, which InfluxDB refused, and whether it stopped early. */
    public static final class Outcome {
        private final BitSet written = new BitSet();
        private final Map<Integer, String> rejected = new LinkedHashMap<>();
        private Failure failure;
        private boolean budgetExhausted;
        private int tooLargeBytes = -1;
        private int partialWrites;
        private int requests;

        /** @return indexes of the lines InfluxDB stored */
        public BitSet written() {
            return written;
        }

        /** @return index of each line InfluxDB refused, with the reason */
        public Map<Integer, String> rejected() {
            return rejected;
        }

        /** @return why writing stopped, or null when every line was written or rejected */
        public Failure failure() {
            return failure;
        }

        /** @return true when the time budget ran out: the lines neither written nor rejected are to be sent again */
        public boolean budgetExhausted() {
            return budgetExhausted;
        }

        /** @return the smallest body size (uncompressed bytes) InfluxDB answered 413 to, or -1 */
        public int tooLargeBytes() {
            return tooLargeBytes;
        }

        /** @return number of 400 answers received */
        public int partialWrites() {
            return partialWrites;
        }

        /** @return number of HTTP requests made */
        public int requests() {
            return requests;
        }

        boolean stopped() {
            return failure != null || budgetExhausted;
        }
    }

    private final String baseUrl;
    private final String db;
    private final String rp;
    private final String username;
    private final String authorization;
    private final Precision precision;
    private final boolean gzip;
    /** Reused by every request (one task thread writes): a batch allocates no large arrays, which in a worker's heap
     * of a few hundred MiB to a few GiB would be G1 "humongous" objects, each costing an old-generation region. */
    private byte[] raw = new byte[64 * 1024];
    private byte[] gzipped = new byte[16 * 1024];
    private final Deflater deflater;
    private final CRC32 crc = new CRC32();
    private static final byte[] GZIP_HEADER = {0x1f, (byte) 0x8b, Deflater.DEFLATED, 0, 0, 0, 0, 0, 0, 0};
    private final boolean autoCreate;
    private final String rpDuration;
    private final Duration timeout;
    private final HttpClient client;
    private final LongSupplier clock;
    private final Listener listener;
    private final String userAgent;

    public InfluxDbWriter(InfluxDbSinkConfig config, LongSupplier clock, Listener listener) {
        String url = config.url();
        this.baseUrl = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        this.db = config.db();
        this.rp = config.rp();
        this.username = config.username();
        String password = config.password().value();
        this.authorization = username.isEmpty() ? null
                : "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
        this.precision = config.precision();
        this.gzip = config.gzip();
        this.deflater = gzip ? new Deflater(config.gzipLevel(), true) : null;
        this.autoCreate = config.dbAutoCreate();
        this.rpDuration = config.rpDuration();
        this.timeout = Duration.ofMillis(config.timeoutMs());
        this.client = HttpClient.newBuilder().connectTimeout(timeout).version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER).build();
        this.clock = clock;
        this.listener = listener;
        this.userAgent = "shopstream-influxdb-sink/" + Version.get();
    }

    /** @return the URL points are written to, without credentials (for messages) */
    public String writeUrl() {
        return baseUrl + "/write?" + writeQuery();
    }

    private String writeQuery() {
        StringBuilder q = new StringBuilder("db=").append(enc(db));
        if (!rp.isEmpty()) {
            q.append("&rp=").append(enc(rp));
        }
        return q.append("&precision=").append(precision.writeParam()).toString();
    }

    /**
     * Writes the lines, splitting on 400 and 413 as described above.
     *
     * @param lastStartMs no request is started after this time ({@link Outcome#budgetExhausted()}): the caller's poll
     *                    budget less one request timeout
     */
    public Outcome write(List<String> lines, long lastStartMs) {
        Outcome outcome = new Outcome();
        writeRange(lines, 0, lines.size(), lastStartMs, outcome, new boolean[2]);
        return outcome;
    }

    /**
     * Sends lines [from, to) (and, on 400 or 413, parts of them).
     *
     * @return how many of the lines InfluxDB refused, or -1 when writing stopped (failure or budget) before every line
     * was known to be written or refused
     */
    private int writeRange(List<String> lines, int from, int to, long lastStartMs, Outcome outcome, boolean[] created) {
        if (outcome.stopped()) {
            return -1;
        }
        if (from >= to) {
            return 0;
        }
        if (clock.getAsLong() > lastStartMs) {
            outcome.budgetExhausted = true;
            return -1;
        }
        int rawLength = encode(lines, from, to);
        Response r = post(rawLength, to - from);
        outcome.requests++;
        int n = to - from;
        if (r.status == 204 || r.status == 200) {
            outcome.written.set(from, to);
            return 0;
        }
        if (r.status == -1) {
            outcome.failure = new Failure(true, "no answer from " + writeUrl() + ": " + r.error, null);
            return -1;
        }
        String error = r.errorMessage();
        switch (r.status) {
            case 400 -> {
                outcome.partialWrites++;
                if (n == 1) {
                    outcome.rejected.put(from, "InfluxDB refused the point (HTTP 400): " + error);
                    return 1;
                }
                int dropped = droppedCount(error);
                if (dropped >= n) {
                    // every point refused (e.g. all beyond the retention policy): one request, no bisection
                    rejectAll(from, to, error, outcome);
                    return n;
                }
                log.debug("HTTP 400 for {} lines ({}): bisecting to find the refused points", n, error);
                return bisect(lines, from, to, Math.max(0, dropped), error, lastStartMs, outcome, created);
            }
            case 413 -> {
                outcome.tooLargeBytes = outcome.tooLargeBytes < 0 ? rawLength : Math.min(outcome.tooLargeBytes, rawLength);
                if (n == 1) {
                    outcome.rejected.put(from, "the point (" + rawLength + " bytes) is larger than InfluxDB's max-body-size (HTTP 413)");
                    return 1;
                }
                return bisect(lines, from, to, 0, error, lastStartMs, outcome, created);
            }
            case 401 -> {
                outcome.failure = new Failure(false, "InfluxDB at " + baseUrl + " refused the credentials of user '" + username
                        + "' (HTTP 401: " + error + "); check " + InfluxDbSinkConfig.USERNAME + " and " + InfluxDbSinkConfig.PASSWORD, null);
                return -1;
            }
            case 403 -> {
                outcome.failure = new Failure(false, "InfluxDB at " + baseUrl + " does not let user '" + username + "' write to database '"
                        + db + "' (HTTP 403: " + error + "); grant WRITE on it or fix " + InfluxDbSinkConfig.USERNAME + "/"
                        + InfluxDbSinkConfig.PASSWORD, null);
                return -1;
            }
            case 404 -> {
                if (error.startsWith("database not found")) {
                    if (!autoCreate) {
                        outcome.failure = new Failure(false, "database '" + db + "' does not exist at " + baseUrl + " (HTTP 404: " + error
                                + "); create it or set " + InfluxDbSinkConfig.DB_AUTO_CREATE + "=true", null);
                        return -1;
                    }
                    if (created[0]) {
                        outcome.failure = new Failure(true, "database '" + db + "' still not found after CREATE DATABASE (HTTP 404)", null);
                        return -1;
                    }
                    created[0] = true;
                    if (!createDatabase(outcome)) {
                        return -1;
                    }
                    return writeRange(lines, from, to, lastStartMs, outcome, created);
                }
            }
            default -> {
                // classified below
            }
        }
        if (r.status == 500 && error.startsWith("retention policy not found")) {
            if (!autoCreate || rpDuration.isEmpty() || created[1]) {
                outcome.failure = new Failure(false, "retention policy '" + rp + "' (" + InfluxDbSinkConfig.RP + ") does not exist in database '"
                        + db + "' at " + baseUrl + " (HTTP 500: " + error + "); create it, fix " + InfluxDbSinkConfig.RP + ", or set "
                        + InfluxDbSinkConfig.RP_DURATION + " with " + InfluxDbSinkConfig.DB_AUTO_CREATE + "=true", null);
                return -1;
            }
            created[1] = true;
            if (!createRetentionPolicy(outcome)) {
                return -1;
            }
            return writeRange(lines, from, to, lastStartMs, outcome, created);
        }
        if (r.status >= 500 || r.status == 429) {
            outcome.failure = new Failure(true, "InfluxDB at " + writeUrl() + " answered HTTP " + r.status + ": " + error,
                    r.retryAfterMs(clock.getAsLong()));
            return -1;
        }
        outcome.failure = new Failure(false, "unexpected answer from " + writeUrl() + ": HTTP " + r.status + ": " + error, null);
        return -1;
    }

    /**
     * Sends the left half, then the right half unless the left's answer proves every line of the right refused:
     * {@code atLeastBad} lines of [from, to) are known to be refused (the {@code dropped=} count of the answer to the
     * whole range; a lower bound, since InfluxDB leaves unparseable lines out of it).
     */
    private int bisect(List<String> lines, int from, int to, int atLeastBad, String error, long lastStartMs, Outcome outcome,
                       boolean[] created) {
        int mid = from + (to - from) / 2;
        int left = writeRange(lines, from, mid, lastStartMs, outcome, created);
        if (left < 0) {
            return -1;
        }
        if (atLeastBad - left >= to - mid) {
            rejectAll(mid, to, error, outcome);
            return left + (to - mid);
        }
        int right = writeRange(lines, mid, to, lastStartMs, outcome, created);
        return right < 0 ? -1 : left + right;
    }

    private static void rejectAll(int from, int to, String error, Outcome outcome) {
        for (int i = from; i < to; i++) {
            outcome.rejected.put(i, "InfluxDB refused the point (HTTP 400): " + error);
        }
    }

    /** 1.6.7 ends with the count; 1.13 adds " for database: D for retention policy: R" (each when known). */
    private static final Pattern DROPPED =
            Pattern.compile("\\bdropped=(\\d+)(?: for database: .*?)?(?: for retention policy: .*?)?\\s*$");

    /**
     * @return N of a 400 answer's "partial write: ... dropped=N", else -1. N counts the points InfluxDB parsed and
     * refused; lines it could not parse are not counted (observed on 1.6.7 and 1.13.2), so N is a lower bound of the
     * refused lines
     */
    static int droppedCount(String error) {
        Matcher m = error == null ? null : DROPPED.matcher(error);
        if (m == null || !m.find()) {
            return -1;
        }
        try {
            return Integer.parseInt(m.group(1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private boolean createDatabase(Outcome outcome) {
        log.info("Database '{}' not found at {}: creating it ({}=true)", db, baseUrl, InfluxDbSinkConfig.DB_AUTO_CREATE);
        if (!query("CREATE DATABASE " + identifier(db), outcome)) {
            return false;
        }
        if (!rp.isEmpty() && !rpDuration.isEmpty()) {
            return createRetentionPolicy(outcome);
        }
        return true;
    }

    private boolean createRetentionPolicy(Outcome outcome) {
        log.info("Creating retention policy '{}' on '{}' with duration {} ({}=true)", rp, db, rpDuration, InfluxDbSinkConfig.DB_AUTO_CREATE);
        return query("CREATE RETENTION POLICY " + identifier(rp) + " ON " + identifier(db) + " DURATION " + rpDuration + " REPLICATION 1",
                outcome);
    }

    /** Runs one InfluxQL statement through POST /query; sets the outcome's failure when it did not succeed. */
    private boolean query(String statement, Outcome outcome) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + "/query")).timeout(timeout)
                .header("Content-Type", "application/x-www-form-urlencoded").header("User-Agent", userAgent)
                .POST(HttpRequest.BodyPublishers.ofString("q=" + enc(statement)));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        HttpResponse<String> resp;
        try {
            resp = exchange(b.build());
        } catch (IOException e) {
            outcome.failure = new Failure(true, "no answer from " + baseUrl + "/query to '" + statement + "': " + describe(e), null);
            return false;
        }
        String error = errorMessage(resp.body());
        if (resp.statusCode() == 200 && error == null) {
            return true;
        }
        boolean retriable = resp.statusCode() >= 500 || resp.statusCode() == 429;
        outcome.failure = new Failure(retriable, "'" + statement + "' failed at " + baseUrl + " for user '" + username + "' (HTTP "
                + resp.statusCode() + ": " + (error == null ? resp.body() : error) + ")", null);
        return false;
    }

    /**
     * Writes lines [from, to) of the list, each followed by a newline, as UTF-8 into the reused raw buffer.
     *
     * @return the number of bytes
     */
    private int encode(List<String> lines, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            byte[] line = lines.get(i).getBytes(StandardCharsets.UTF_8);
            if (n + line.length + 1 > raw.length) {
                raw = Arrays.copyOf(raw, Math.max(raw.length * 2, n + line.length + 1));
            }
            System.arraycopy(line, 0, raw, n, line.length);
            n += line.length;
            raw[n++] = '\n';
        }
        return n;
    }

    /**
     * Compresses the first {@code rawLength} bytes of the raw buffer into the reused gzip buffer: a gzip member as
     * {@link java.util.zip.GZIPOutputStream} writes it (10-byte header, raw deflate, CRC-32 and size trailer).
     *
     * @return the number of bytes
     */
    private int gzipRaw(int rawLength) {
        System.arraycopy(GZIP_HEADER, 0, gzipped, 0, GZIP_HEADER.length);
        int n = GZIP_HEADER.length;
        deflater.reset();
        deflater.setInput(raw, 0, rawLength);
        deflater.finish();
        while (!deflater.finished()) {
            if (n == gzipped.length) {
                gzipped = Arrays.copyOf(gzipped, gzipped.length * 2);
            }
            n += deflater.deflate(gzipped, n, gzipped.length - n);
        }
        crc.reset();
        crc.update(raw, 0, rawLength);
        if (n + 8 > gzipped.length) {
            gzipped = Arrays.copyOf(gzipped, n + 8);
        }
        writeIntLe(gzipped, n, (int) crc.getValue());
        writeIntLe(gzipped, n + 4, rawLength);
        return n + 8;
    }

    private static void writeIntLe(byte[] b, int at, int v) {
        b[at] = (byte) v;
        b[at + 1] = (byte) (v >>> 8);
        b[at + 2] = (byte) (v >>> 16);
        b[at + 3] = (byte) (v >>> 24);
    }

    /** Frees the deflater's native memory; the writer is not used afterwards. */
    public void close() {
        if (deflater != null) {
            deflater.end();
        }
    }

    private Response post(int rawLength, int lines) {
        int length = gzip ? gzipRaw(rawLength) : rawLength;
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl + "/write?" + writeQuery())).timeout(timeout)
                .header("Content-Type", "text/plain; charset=utf-8").header("User-Agent", userAgent)
                .POST(HttpRequest.BodyPublishers.ofByteArray(gzip ? gzipped : raw, 0, length));
        if (gzip) {
            b.header("Content-Encoding", "gzip");
        }
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        long start = clock.getAsLong();
        Response r;
        try {
            HttpResponse<String> resp = exchange(b.build());
            r = new Response(resp.statusCode(), resp.body(), resp.headers().firstValue("Retry-After").orElse(null), null);
        } catch (IOException e) {
            r = new Response(-1, "", null, describe(e));
        }
        listener.onRequest(r.status, clock.getAsLong() - start, length, lines);
        if (r.status == -1) {
            // no answer: the abandoned exchange must not see the buffers change under it, so the next request gets new ones
            raw = new byte[raw.length];
            gzipped = new byte[gzipped.length];
        }
        return r;
    }

    /**
     * One request and its whole answer, bounded in time (the request timeout covers the body too, not just the
     * headers) and in size (at most {@link #MAX_RESPONSE_BYTES} of the body are kept).
     *
     * @throws IOException on no answer, a timeout or an interrupt (the interrupt flag is kept)
     */
    private HttpResponse<String> exchange(HttpRequest request) throws IOException {
        CompletableFuture<HttpResponse<String>> future = client.sendAsync(request, BoundedBody.handler(MAX_RESPONSE_BYTES));
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            throw new HttpTimeoutException("no complete answer within " + timeout.toMillis() + " ms");
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof IOException io ? io : new IOException(String.valueOf(cause), cause);
        }
    }

    private String describe(IOException e) {
        if (e instanceof HttpTimeoutException) {
            return "timed out after " + timeout.toMillis() + " ms (" + InfluxDbSinkConfig.TIMEOUT_MS + ")";
        }
        if (e instanceof ConnectException) {
            return "connection refused or unreachable (" + e + ")";
        }
        return e.toString();
    }

    /** @return the "error" member of an InfluxDB JSON answer (unescaped), or null */
    static String errorMessage(String body) {
        if (body == null) {
            return null;
        }
        Matcher m = ERROR_FIELD.matcher(body);
        if (!m.find()) {
            return null;
        }
        return unescapeJson(m.group(1));
    }

    private static String unescapeJson(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 >= s.length()) {
                sb.append(c);
                continue;
            }
            char n = s.charAt(++i);
            switch (n) {
                case 'n': sb.append('\n'); break;
                case 'r': sb.append('\r'); break;
                case 't': sb.append('\t'); break;
                case 'b': sb.append('\b'); break;
                case 'f': sb.append('\f'); break;
                case 'u':
                    if (i + 4 < s.length()) {
                        try {
                            sb.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                            i += 4;
                            break;
                        } catch (NumberFormatException e) {
                            // not an escape after all: keep it as it is
                        }
                    }
                    sb.append("\\u");
                    break;
                default: sb.append(n); break;
            }
        }
        return sb.toString();
    }

    /** @return an InfluxQL quoted identifier */
    static String identifier(String name) {
        return "\"" + name.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** One answer from /write. */
    private static final class Response {
        final int status;
        final String body;
        final String retryAfter;
        final String error;

        Response(int status, String body, String retryAfter, String error) {
            this.status = status;
            this.body = body == null ? "" : body;
            this.retryAfter = retryAfter;
            this.error = error;
        }

        String errorMessage() {
            String m = InfluxDbWriter.errorMessage(body);
            if (m != null) {
                return m;
            }
            String b = body.strip();
            return b.isEmpty() ? "(no body)" : (b.length() > 300 ? b.substring(0, 300) + "..." : b);
        }

        Long retryAfterMs(long nowMs) {
            return parseRetryAfter(retryAfter, nowMs);
        }
    }

    /** @return the delay of a Retry-After header (delta-seconds or HTTP-date), or null when absent or unreadable */
    static Long parseRetryAfter(String value, long nowMs) {
        if (value == null || value.isBlank()) {
            return null;
        }
        String v = value.trim();
        try {
            return Math.max(0L, Math.multiplyExact(Long.parseLong(v), 1000L));
        } catch (NumberFormatException | ArithmeticException e) {
            // not delta-seconds: try an HTTP-date
        }
        try {
            long at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant().toEpochMilli();
            return Math.max(0L, at - nowMs);
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
