package io.shopstream.connect.influxdb;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Flow;

/**
 * A response body read as UTF-8 text, at most {@code maxBytes} of it: what comes after is discarded (the
 * subscription is cancelled) and the text ends with "... (truncated)". InfluxDB's answers are short JSON; a proxy or
 * a misbehaving server must not make the task buffer an unbounded body. Time is bounded by the caller, who waits for
 * the whole exchange at most the request timeout.
 */
final class BoundedBody implements java.net.http.HttpResponse.BodySubscriber<String> {
    static final String TRUNCATED = "... (truncated)";

    private final int maxBytes;
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final CompletableFuture<String> result = new CompletableFuture<>();
    private Flow.Subscription subscription;

    private BoundedBody(int maxBytes) {
        this.maxBytes = maxBytes;
    }

    static java.net.http.HttpResponse.BodyHandler<String> handler(int maxBytes) {
        return info -> new BoundedBody(maxBytes);
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
        subscription = s;
        s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<ByteBuffer> items) {
        if (result.isDone()) {
            return;
        }
        for (ByteBuffer b : items) {
            int room = maxBytes - bytes.size();
            if (b.remaining() > room) {
                byte[] part = new byte[room];
                b.get(part);
                bytes.writeBytes(part);
                subscription.cancel();
                result.complete(text() + TRUNCATED);
                return;
            }
            byte[] all = new byte[b.remaining()];
            b.get(all);
            bytes.writeBytes(all);
        }
    }

    @Override
    public void onError(Throwable t) {
        result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
        result.complete(text());
    }

    @Override
    public CompletionStage<String> getBody() {
        return result;
    }

    private String text() {
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }
}
