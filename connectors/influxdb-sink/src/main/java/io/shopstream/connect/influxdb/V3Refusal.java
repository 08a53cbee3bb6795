package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One line InfluxDB 3 refused, as its partial-write answer lists it (HTTP 400 of {@code /api/v3/write_lp} with
 * {@code accept_partial=true}, documented by InfluxData, "Use the v3 write_lp API to write data", Partial writes):
 * <pre>{"error":"partial write of line protocol occurred","data":[{"original_line":"...","line_number":2,
 * "error_message":"invalid column type for column 'temp', ..."}]}</pre>
 * At most {@link InfluxDbWriter#V3_MAX_LISTED} lines are listed.
 *
 * @param lineNumber the line's number in the request body, from 1
 */
record V3Refusal(int lineNumber, String message) {

    /** @return the refusals the answer lists, or null when it lists none in that form */
    static List<V3Refusal> parse(String body) {
        if (!(Json.parse(body) instanceof Map<?, ?> answer) || !(answer.get("data") instanceof List<?> data) || data.isEmpty()) {
            return null;
        }
        List<V3Refusal> refusals = new ArrayList<>(data.size());
        for (Object item : data) {
            if (!(item instanceof Map<?, ?> line) || !(line.get("line_number") instanceof Double number)
                    || !(line.get("error_message") instanceof String message)) {
                return null;
            }
            refusals.add(new V3Refusal(number.intValue(), message));
        }
        return refusals;
    }
}
