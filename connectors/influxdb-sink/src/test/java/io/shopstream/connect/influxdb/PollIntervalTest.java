package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where a task reads the consumer's max.poll.interval.ms from. */
class PollIntervalTest {
    @TempDir
    Path dir;

    private String command(String main, Path file) {
        return "org.apache.kafka.connect.cli." + main + " " + file + " connector.properties";
    }

    @Test
    void theConnectorOverrideWinsThenTheWorkerFileThenTheDefault() throws IOException {
        Path worker = Files.writeString(dir.resolve("worker.properties"), "bootstrap.servers=k:9092\nconsumer.max.poll.interval.ms = 90000\n");
        String cmd = command("ConnectDistributed", worker);
        assertEquals(new PollInterval(60_000L, PollInterval.OVERRIDE),
                PollInterval.of(Map.of("consumer.override.max.poll.interval.ms", "60000"), cmd));
        PollInterval fromWorker = PollInterval.of(Map.of(), cmd);
        assertEquals(90_000L, fromWorker.ms());
        assertTrue(fromWorker.source().startsWith("consumer.max.poll.interval.ms of the worker (" + worker), fromWorker.source());
        assertEquals(90_000L, PollInterval.of(Map.of(), command("ConnectStandalone", worker)).ms());
    }

    @Test
    void withoutAReadableWorkerSettingTheConsumerDefaultIsAssumed() throws IOException {
        Path none = Files.writeString(dir.resolve("none.properties"), "group.id=g\n");
        Path provider = Files.writeString(dir.resolve("provider.properties"), "consumer.max.poll.interval.ms=${env:POLL}\n");
        for (String cmd : new String[] {"", "org.example.Main", command("ConnectDistributed", none), command("ConnectDistributed", provider),
            command("ConnectDistributed", dir.resolve("missing.properties")), "org.apache.kafka.connect.cli.ConnectDistributed"}) {
            PollInterval p = PollInterval.of(Map.of(), cmd);
            assertEquals(300_000L, p.ms(), cmd);
            assertTrue(p.source().startsWith("the consumer default"), p.source());
        }
        assertNull(PollInterval.workerProperties(null));
        assertThrows(NumberFormatException.class, () -> PollInterval.of(Map.of("consumer.override.max.poll.interval.ms", "soon"), ""));
    }
}
