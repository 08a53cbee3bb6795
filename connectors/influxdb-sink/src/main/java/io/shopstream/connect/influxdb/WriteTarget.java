package io.shopstream.connect.influxdb;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Where and as whom points are written: the write API's endpoint with its query parameters, and the Authorization
 * header (the password or token only ever goes there, never into a URL or a message).
 *
 * @param baseUrl       the configured URL without a trailing slash
 * @param writeUri      the endpoint with its parameters
 * @param authorization the Authorization header's value, or null for none
 */
record WriteTarget(WriteApi api, String baseUrl, URI writeUri, String authorization, String db, String rp, String username,
                   String bucket, String org) {

    static WriteTarget of(InfluxDbSinkConfig config) {
        String url = config.url();
        String base = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        WriteApi api = config.api();
        String query = switch (api) {
            case V1 -> "db=" + enc(config.db()) + (config.rp().isEmpty() ? "" : "&rp=" + enc(config.rp()));
            case V2 -> "org=" + enc(config.org()) + "&bucket=" + enc(config.bucket());
            case V3 -> "db=" + enc(config.db());
        } + "&precision=" + api.precisionParam(config.precision()) + (api == WriteApi.V3 ? "&accept_partial=true" : "");
        return new WriteTarget(api, base, URI.create(base + api.path() + "?" + query), authorization(config), config.db(), config.rp(),
                config.username(), config.bucket(), config.org());
    }

    private static String authorization(InfluxDbSinkConfig config) {
        String token = config.token().value();
        return switch (config.api()) {
            case V1 -> config.username().isEmpty() ? null : "Basic " + Base64.getEncoder().encodeToString(
                    (config.username() + ":" + config.password().value()).getBytes(StandardCharsets.UTF_8));
            case V2 -> "Token " + token;
            case V3 -> token.isEmpty() ? null : "Bearer " + token;
        };
    }

    /** @return the URL points are written to (holds no credentials: for messages) */
    String writeUrl() {
        return writeUri.toString();
    }

    /** @return who writes, for messages: the user (v1) or the token's setting */
    String identity() {
        return api == WriteApi.V1 ? "user '" + username + "'" : "the token (" + InfluxDbSinkConfig.TOKEN + ")";
    }

    /** @return where points go, for messages: database (and retention policy) or bucket */
    String destination() {
        return switch (api) {
            case V1, V3 -> "database '" + db + "'";
            case V2 -> "bucket '" + bucket + "' of organization '" + org + "'";
        };
    }

    static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
