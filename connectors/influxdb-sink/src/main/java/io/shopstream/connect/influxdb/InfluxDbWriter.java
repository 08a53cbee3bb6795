package io.shopstream.connect.influxdb;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
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

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Synchronous writes to InfluxDB ({@link WriteApi}: 1.x {@code /write}, 2.x {@code /api/v2/write}, 3.x
 * {@code /api/v3/write_lp}): every request's status is seen and classified.
 * <ul>
 *   <li>204: written.</li>
 *   <li>400 (1.x: partial write: type conflict, unable to parse, beyond retention policy, ...; 2.x: unparseable
 *       line) and 422 (2.x partial write): InfluxDB stored the good points and dropped the bad ones without saying
 *       which; the lines are bisected (re-writing a good point is idempotent) down to the single lines it refuses,
 *       which are returned as rejected with InfluxDB's reason.</li>
 *   <li>400 of InfluxDB 3 with {@code accept_partial=true}: the answer lists the refused lines (up to 100) with their
 *       reasons; they are rejected, the others written (lines after the 100th listed are sent again).</li>
 *   <li>A partial write that names {@code max-series-per-database} exceeded: fatal, naming the server
 *       setting (no point is to blame).</li>
 *   <li>413: the lines are split and sent in halves; a single line still too large is rejected.</li>
 *   <li>404 database not found (1.x): created when {@code influxdb.db.auto.create=true}, else fatal.</li>
 *   <li>500 retention policy not found (1.x): created when auto-create is on and {@code influxdb.rp.duration} is set,
 *       else fatal.</li>
 *   <li>401/403, 404 of 2.x (bucket or organization): fatal, naming the identity and the settings.</li>
 *   <li>5xx, 429, timeout, connection refused: retriable (with Retry-After when sent); the caller keeps the lines.</li>
 * </ul>
 */
public final class InfluxDbWriter {
    private static final Logger log = LoggerFactory.getLogger(InfluxDbWriter.class);
    /** The most of an answer's body that is read: InfluxDB's answers are short JSON documents. */
    static final int MAX_RESPONSE_BYTES = 64 * 1024;
    /** InfluxDB 3 lists at most this many refused lines in a partial-write answer. */
    static final int V3_MAX_LISTED = 100;
    /** 1.6.7: "max-series-per-database limit exceeded: (N)"; 1.13: "max-series-per-database exceeded database=D limit=N ...". */
    static final Pattern MAX_SERIES = Pattern.compile("max-series-per-database (?:limit )?exceeded");

    /** Receives one call per write request, for metrics. */
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

    /**
     * The outcome of {@link #write}: which lines were stored, which InfluxDB refused, and whether it stopped early.
     *
     * @param written         indexes of the lines InfluxDB stored
     * @param rejected        index of each line InfluxDB refused, with the reason
     * @param failure         why writing stopped, or null when every line was written or rejected
     * @param budgetExhausted the time budget ran out: the lines neither written nor rejected are to be sent again
     * @param tooLargeBytes   the smallest body size (uncompressed bytes) InfluxDB answered 413 to, or -1
     * @param partialWrites   number of partial-write answers (400, 422) received
     * @param requests        number of HTTP requests made
     */
    public record Outcome(BitSet written, Map<Integer, String> rejected, Failure failure, boolean budgetExhausted, int tooLargeBytes,
                          int partialWrites, int requests) {
    }

    /** One answer to a write request; status -1 when none came ({@code error} says why). */
    private record Response(int status, String body, String retryAfter, String error, int rawLength) {
        String errorMessage() {
            String m = InfluxDbWriter.errorMessage(body);
            if (m != null) {
                return m;
            }
            String b = body.strip();
            return b.isEmpty() ? "(no body)" : (b.length() > 300 ? b.substring(0, 300) + "..." : b);
        }
    }

    /** What one {@link #write} call found out so far; becomes its {@link Outcome}. */
    private static final class Progress {
        final List<byte[]> lines;
        final long lastStartMs;
        final BitSet written = new BitSet();
        final Map<Integer, String> rejected = new LinkedHashMap<>();
        Failure failure;
        boolean budgetExhausted;
        int tooLargeBytes = -1;
        int partialWrites;
        int requests;
        boolean createdDatabase;
        boolean createdRetentionPolicy;

        Progress(List<byte[]> lines, long lastStartMs) {
            this.lines = lines;
            this.lastStartMs = lastStartMs;
        }

        boolean stopped() {
            return failure != null || budgetExhausted;
        }

        /** @return -1, what writeRange answers when writing stopped */
        int fail(boolean retriable, String message, Long retryAfterMs) {
            failure = new Failure(retriable, message, retryAfterMs);
            return -1;
        }

        /** @return the number of lines rejected */
        int reject(int from, int to, String reason) {
            for (int i = from; i < to; i++) {
                rejected.put(i, reason);
            }
            return to - from;
        }

        Outcome outcome() {
            return new Outcome(written, rejected, failure, budgetExhausted, tooLargeBytes, partialWrites, requests);
        }
    }

    private final WriteTarget target;
    private final RequestBody body;
    private final boolean autoCreate;
    private final String rpDuration;
    private final Duration timeout;
    private final HttpClient client;
    private final LongSupplier clock;
    private final Listener listener;
    private final String userAgent;

    public InfluxDbWriter(InfluxDbSinkConfig config, LongSupplier clock, Listener listener) {
        this.target = WriteTarget.of(config);
        this.body = new RequestBody(config.gzip() ? config.gzipLevel() : 0);
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
        return target.writeUrl();
    }

    /**
     * Writes the lines (UTF-8, without newline), splitting them as described above.
     *
     * @param lastStartMs no request is started after this time ({@link Outcome#budgetExhausted()}): the caller's poll
     *                    budget less one request timeout
     */
    public Outcome write(List<byte[]> lines, long lastStartMs) {
        Progress progress = new Progress(lines, lastStartMs);
        writeRange(progress, 0, lines.size());
        return progress.outcome();
    }

    /** Frees native memory; the writer is not used afterwards. */
    public void close() {
        body.close();
    }

    // ---------------------------------------------------------------- sending and classifying

    /**
     * Sends lines [from, to) (and, when InfluxDB refuses some of them or the body is too large, parts of them).
     *
     * @return how many of the lines InfluxDB refused, or -1 when writing stopped (failure or budget) before every line
     * was known to be written or refused
     */
    private int writeRange(Progress p, int from, int to) {
        if (p.stopped()) {
            return -1;
        }
        if (from >= to) {
            return 0;
        }
        if (clock.getAsLong() > p.lastStartMs) {
            p.budgetExhausted = true;
            return -1;
        }
        Response r = post(p.lines, from, to);
        p.requests++;
        if (r.status() == 204 || r.status() == 200) {
            p.written.set(from, to);
            return 0;
        }
        if (r.status() == -1) {
            return p.fail(true, "no answer from " + writeUrl() + ": " + r.error(), null);
        }
        return refused(p, from, to, r, r.errorMessage());
    }

    /** Dispatches an answer other than success by its status. */
    private int refused(Progress p, int from, int to, Response r, String error) {
        if ((r.status() == 400 || r.status() == 422) && MAX_SERIES.matcher(error).find()) {
            return p.fail(false, "InfluxDB at " + target.baseUrl() + " refused to create new series in " + target.destination() + " (HTTP "
                    + r.status() + ": " + error + "): the database holds as many series as the server setting max-series-per-database "
                    + "([data] section of influxdb.conf; 0 = no limit) allows. Raise it, or drop series or tags of high "
                    + "cardinality; the points of existing series are still written", null);
        }
        return switch (r.status()) {
            case 400, 422 -> partialWrite(p, from, to, r, error);
            case 413 -> tooLarge(p, from, to, r.rawLength(), error);
            case 401, 403 -> p.fail(false, authFailure(r.status(), error), null);
            case 404 -> notFound(p, from, to, error);
            case 500 -> target.api() == WriteApi.V1 && error.startsWith("retention policy not found")
                    ? retentionPolicyNotFound(p, from, to, error) : serverError(p, r, error);
            default -> serverError(p, r, error);
        };
    }

    private int serverError(Progress p, Response r, String error) {
        if (r.status() >= 500 || r.status() == 429) {
            return p.fail(true, "InfluxDB at " + writeUrl() + " answered HTTP " + r.status() + ": " + error,
                    parseRetryAfter(r.retryAfter(), clock.getAsLong()));
        }
        return p.fail(false, "unexpected answer from " + writeUrl() + ": HTTP " + r.status() + ": " + error, null);
    }

    /** InfluxDB stored some lines of [from, to) and refused others: find out which. */
    private int partialWrite(Progress p, int from, int to, Response r, String error) {
        p.partialWrites++;
        List<V3Refusal> listed = target.api() == WriteApi.V3 ? V3Refusal.parse(r.body()) : null;
        if (listed != null && numbersFit(listed, p.lines, from, to)) {
            return listedRefusals(p, from, to, listed);
        }
        String reason = "InfluxDB refused the point (HTTP " + r.status() + "): " + error;
        int n = to - from;
        if (n == 1) {
            return p.reject(from, to, reason);
        }
        int dropped = droppedCount(error);
        if (dropped >= n) {
            return p.reject(from, to, reason); // every point refused (e.g. all beyond the retention policy): no bisection
        }
        log.debug("HTTP {} for {} lines ({}): bisecting to find the refused points", r.status(), n, error);
        return bisect(p, from, to, Math.max(0, dropped), reason);
    }

    /** The body was too large: halves are sent; a single line still too large is rejected. */
    private int tooLarge(Progress p, int from, int to, int rawLength, String error) {
        p.tooLargeBytes = p.tooLargeBytes < 0 ? rawLength : Math.min(p.tooLargeBytes, rawLength);
        if (to - from == 1) {
            return p.reject(from, to, "the point (" + rawLength + " bytes) is larger than InfluxDB's max-body-size (HTTP 413)");
        }
        return bisect(p, from, to, 0, error);
    }

    /**
     * Sends the left half, then the right half unless the left's answer proves every line of the right refused:
     * {@code atLeastBad} lines of [from, to) are known to be refused (the {@code dropped=} count of the answer to the
     * whole range; a lower bound, since InfluxDB leaves unparseable lines out of it).
     */
    private int bisect(Progress p, int from, int to, int atLeastBad, String reason) {
        int mid = from + (to - from) / 2;
        int left = writeRange(p, from, mid);
        if (left < 0) {
            return -1;
        }
        if (atLeastBad - left >= to - mid) {
            return left + p.reject(mid, to, reason);
        }
        int right = writeRange(p, mid, to);
        return right < 0 ? -1 : left + right;
    }

    /**
     * InfluxDB 3 stored lines [from, to) but the listed ones. A full list ({@link #V3_MAX_LISTED}) may leave refused
     * lines out: those after the last listed one are sent again.
     */
    private int listedRefusals(Progress p, int from, int to, List<V3Refusal> listed) {
        int last = from;
        for (V3Refusal refusal : listed) {
            int i = from + refusal.lineNumber() - 1;
            p.rejected.put(i, "InfluxDB refused the point (HTTP 400): " + refusal.message());
            last = Math.max(last, i);
        }
        int known = listed.size() >= V3_MAX_LISTED ? last + 1 : to;
        int refused = 0;
        for (int i = from; i < known; i++) {
            if (p.rejected.containsKey(i)) {
                refused++;
            } else {
                p.written.set(i);
            }
        }
        int rest = writeRange(p, known, to);
        return rest < 0 ? -1 : refused + rest;
    }

    /**
     * @return true when the listed line numbers are lines of [from, to): each line of the body is one point, unless a
     * string field holds a newline (then the numbering is InfluxDB's to know, and the lines are bisected instead)
     */
    private static boolean numbersFit(List<V3Refusal> listed, List<byte[]> lines, int from, int to) {
        for (V3Refusal refusal : listed) {
            if (refusal.lineNumber() < 1 || refusal.lineNumber() > to - from) {
                return false;
            }
        }
        for (int i = from; i < to; i++) {
            for (byte b : lines.get(i)) {
                if (b == '\n') {
                    return false;
                }
            }
        }
        return true;
    }

    private String authFailure(int status, String error) {
        String settings = target.api() == WriteApi.V1 ? InfluxDbSinkConfig.USERNAME + "/" + InfluxDbSinkConfig.PASSWORD : InfluxDbSinkConfig.TOKEN;
        if (status == 401) {
            String check = target.api() == WriteApi.V1 ? InfluxDbSinkConfig.USERNAME + " and " + InfluxDbSinkConfig.PASSWORD : settings;
            String who = target.api() == WriteApi.V1 ? "the credentials of " + target.identity() : target.identity();
            return "InfluxDB at " + target.baseUrl() + " refused " + who + " (HTTP 401: " + error + "); check " + check;
        }
        return "InfluxDB at " + target.baseUrl() + " does not let " + target.identity() + " write to " + target.destination() + " (HTTP 403: "
                + error + "); grant WRITE on it or fix " + settings;
    }

    private int notFound(Progress p, int from, int to, String error) {
        if (target.api() == WriteApi.V1 && error.startsWith("database not found")) {
            return databaseNotFound(p, from, to, error);
        }
        if (target.api() == WriteApi.V2) {
            return p.fail(false, target.destination() + " not found at " + target.baseUrl() + " (HTTP 404: " + error + "); create it or fix "
                    + InfluxDbSinkConfig.BUCKET + "/" + InfluxDbSinkConfig.ORG, null);
        }
        return p.fail(false, "unexpected answer from " + writeUrl() + ": HTTP 404: " + error, null);
    }

    // ---------------------------------------------------------------- InfluxDB 1.x: creating what is missing

    private int databaseNotFound(Progress p, int from, int to, String error) {
        if (!autoCreate) {
            return p.fail(false, "database '" + target.db() + "' does not exist at " + target.baseUrl() + " (HTTP 404: " + error
                    + "); create it or set " + InfluxDbSinkConfig.DB_AUTO_CREATE + "=true", null);
        }
        if (p.createdDatabase) {
            return p.fail(true, "database '" + target.db() + "' still not found after CREATE DATABASE (HTTP 404)", null);
        }
        p.createdDatabase = true;
        log.info("Database '{}' not found at {}: creating it ({}=true)", target.db(), target.baseUrl(), InfluxDbSinkConfig.DB_AUTO_CREATE);
        if (!query(p, "CREATE DATABASE " + identifier(target.db()))
                || !target.rp().isEmpty() && !rpDuration.isEmpty() && !createRetentionPolicy(p)) {
            return -1;
        }
        return writeRange(p, from, to);
    }

    private int retentionPolicyNotFound(Progress p, int from, int to, String error) {
        if (!autoCreate || rpDuration.isEmpty() || p.createdRetentionPolicy) {
            return p.fail(false, "retention policy '" + target.rp() + "' (" + InfluxDbSinkConfig.RP + ") does not exist in database '"
                    + target.db() + "' at " + target.baseUrl() + " (HTTP 500: " + error + "); create it, fix " + InfluxDbSinkConfig.RP
                    + ", or set " + InfluxDbSinkConfig.RP_DURATION + " with " + InfluxDbSinkConfig.DB_AUTO_CREATE + "=true", null);
        }
        p.createdRetentionPolicy = true;
        return createRetentionPolicy(p) ? writeRange(p, from, to) : -1;
    }

    private boolean createRetentionPolicy(Progress p) {
        log.info("Creating retention policy '{}' on '{}' with duration {} ({}=true)", target.rp(), target.db(), rpDuration,
                InfluxDbSinkConfig.DB_AUTO_CREATE);
        return query(p, "CREATE RETENTION POLICY " + identifier(target.rp()) + " ON " + identifier(target.db()) + " DURATION " + rpDuration
                + " REPLICATION 1");
    }

    /** Runs one InfluxQL statement through POST /query; sets the failure when it did not succeed. */
    private boolean query(Progress p, String statement) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(target.baseUrl() + "/query")).timeout(timeout)
                .header("Content-Type", "application/x-www-form-urlencoded").header("User-Agent", userAgent)
                .POST(HttpRequest.BodyPublishers.ofString("q=" + WriteTarget.enc(statement)));
        if (target.authorization() != null) {
            b.header("Authorization", target.authorization());
        }
        HttpResponse<String> resp;
        try {
            resp = exchange(b.build());
        } catch (IOException e) {
            p.fail(true, "no answer from " + target.baseUrl() + "/query to '" + statement + "': " + describe(e), null);
            return false;
        }
        String error = errorMessage(resp.body());
        if (resp.statusCode() == 200 && error == null) {
            return true;
        }
        boolean retriable = resp.statusCode() >= 500 || resp.statusCode() == 429;
        p.fail(retriable, "'" + statement + "' failed at " + target.baseUrl() + " for " + target.identity() + " (HTTP "
                + resp.statusCode() + ": " + (error == null ? resp.body() : error) + ")", null);
        return false;
    }

    // ---------------------------------------------------------------- HTTP

    private Response post(List<byte[]> lines, int from, int to) {
        body.fill(lines, from, to);
        HttpRequest.Builder b = HttpRequest.newBuilder(target.writeUri()).timeout(timeout)
                .header("Content-Type", "text/plain; charset=utf-8").header("User-Agent", userAgent)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes(), 0, body.length()));
        if (body.gzipped()) {
            b.header("Content-Encoding", "gzip");
        }
        if (target.authorization() != null) {
            b.header("Authorization", target.authorization());
        }
        long start = clock.getAsLong();
        Response r;
        try {
            HttpResponse<String> resp = exchange(b.build());
            r = new Response(resp.statusCode(), resp.body() == null ? "" : resp.body(), resp.headers().firstValue("Retry-After").orElse(null),
                    null, body.rawLength());
        } catch (IOException e) {
            r = new Response(-1, "", null, describe(e), body.rawLength());
        }
        listener.onRequest(r.status(), clock.getAsLong() - start, body.length(), to - from);
        if (r.status() == -1) {
            body.abandon();
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

    // ---------------------------------------------------------------- reading answers

    /** 1.6.7 ends with the count; 1.13 and 2.x add " for database: D for retention policy: R" (each when known). */
    private static final Pattern DROPPED =
            Pattern.compile("\\bdropped=(\\d+)(?: for database: .*?)?(?: for retention policy: .*?)?\\s*$");

    /**
     * @return N of a partial-write answer's "partial write: ... dropped=N", else -1. N counts the points InfluxDB
     * parsed and refused; lines it could not parse are not counted (observed on 1.6.7 and 1.13.2), so N is a lower
     * bound of the refused lines
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

    /**
     * @return the reason of an InfluxDB JSON answer: the first "error" member at any depth (1.x, 3.x; 1.x /query
     * puts it in its results), else the top-level "message" (2.x's {"code":...,"message":...}); null when the body
     * holds neither
     */
    static String errorMessage(String body) {
        Object document = Json.parse(body);
        String error = firstError(document);
        return error != null ? error : Json.stringMember(document, "message");
    }

    private static String firstError(Object node) {
        if (node instanceof Map<?, ?> map) {
            if (map.get("error") instanceof String s) {
                return s;
            }
            node = List.copyOf(map.values());
        }
        if (node instanceof List<?> list) {
            for (Object item : list) {
                String found = firstError(item);
                if (found != null) {
                    return found;
                }
            }
        }
        return null;
    }

    /** @return an InfluxQL quoted identifier */
    static String identifier(String name) {
        return "\"" + name.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
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
