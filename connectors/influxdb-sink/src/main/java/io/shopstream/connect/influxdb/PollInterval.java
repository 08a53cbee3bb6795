package io.shopstream.connect.influxdb;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The consumer's {@code max.poll.interval.ms} a sink task runs under, and where it was read. A task sees only its
 * connector's configuration, so:
 * <ol>
 *   <li>{@code consumer.override.max.poll.interval.ms} of the connector configuration, when set;</li>
 *   <li>else {@code consumer.max.poll.interval.ms} of the worker, read from the worker properties file named on the
 *       worker's command line ({@code ConnectDistributed <file>} or {@code ConnectStandalone <file> ...}, as the
 *       JVM reports it in {@code sun.java.command}), when that file can be read and holds a number;</li>
 *   <li>else the consumer's default, 300000, which is wrong for a worker that sets a lower value some other way
 *       (e.g. an embedded worker): then set the connector override.</li>
 * </ol>
 *
 * @param ms     the interval
 * @param source where it was read, for logs and validation messages
 */
public record PollInterval(long ms, String source) {
    /** Not ours: the connector-level consumer override. */
    public static final String OVERRIDE = "consumer.override.max.poll.interval.ms";
    /** Not ours: the worker-level consumer setting. */
    public static final String WORKER = "consumer.max.poll.interval.ms";
    /** The consumer's default {@code max.poll.interval.ms}. */
    public static final long DEFAULT_MS = 300_000L;

    private static final List<String> WORKER_MAINS = List.of("org.apache.kafka.connect.cli.ConnectDistributed",
            "org.apache.kafka.connect.cli.ConnectStandalone");

    /** @throws NumberFormatException when the connector override is not a number */
    public static PollInterval of(Map<String, String> connectorProps) {
        return of(connectorProps, System.getProperty("sun.java.command", ""));
    }

    static PollInterval of(Map<String, String> connectorProps, String javaCommand) {
        String override = connectorProps.get(OVERRIDE);
        if (override != null && !override.isBlank()) {
            return new PollInterval(Long.parseLong(override.trim()), OVERRIDE);
        }
        Path file = workerProperties(javaCommand);
        if (file != null) {
            Properties worker = new Properties();
            try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                worker.load(in);
                String v = worker.getProperty(WORKER);
                if (v != null) {
                    return new PollInterval(Long.parseLong(v.trim()), WORKER + " of the worker (" + file + ")");
                }
            } catch (IOException | NumberFormatException | SecurityException e) {
                // unreadable or not a plain number (e.g. a config provider reference): the default below
            }
        }
        return new PollInterval(DEFAULT_MS, "the consumer default (neither " + OVERRIDE + " nor a readable worker " + WORKER + ")");
    }

    /** @return the worker properties file of a Connect worker's command line, or null */
    static Path workerProperties(String javaCommand) {
        String[] words = javaCommand == null ? new String[0] : javaCommand.trim().split("\\s+");
        for (int i = 0; i + 1 < words.length; i++) {
            if (WORKER_MAINS.contains(words[i])) {
                return Path.of(words[i + 1]);
            }
        }
        return null;
    }
}
