package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorStateInfo;
import org.apache.kafka.connect.util.clusters.EmbeddedConnectCluster;
import org.apache.kafka.connect.util.clusters.WorkerHandle;
import org.apache.kafka.test.TestUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The connector in a real Connect 4.3.1 worker ({@code EmbeddedConnectCluster}: an in-JVM KRaft broker and a
 * distributed worker) writing to a real InfluxDB ({@link LocalInfluxd}). One cluster for the class; each test has its
 * own topic and connector. After every scenario the sink group's committed offsets and the points in InfluxDB are
 * checked exactly. Waits poll for a condition with a time limit; nothing sleeps for a fixed time.
 */
@Tag("influxd")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EmbeddedConnectTest {
    private static final String DB = "connect_it";
    private static final long WAIT_MS = 60_000L;

    private static LocalInfluxd influxd;
    private static EmbeddedConnectCluster connect;
    private static Admin admin;

    @BeforeAll
    static void startClusters() throws Exception {
        influxd = LocalInfluxd.start();
        influxd.createDatabase(DB);
        Map<String, String> workerProps = new HashMap<>();
        workerProps.put("offset.flush.interval.ms", "500"); // commit often: offsets are checked after each step
        workerProps.put("task.shutdown.graceful.timeout.ms", "1000");
        workerProps.put("scheduled.rebalance.max.delay.ms", "1000");
        workerProps.put("connector.client.config.override.policy", "All");
        workerProps.put("session.timeout.ms", "6000"); // the workers' group, too, notices a broker bounce quickly
        workerProps.put("heartbeat.interval.ms", "1000");
        Properties brokerProps = new Properties();
        brokerProps.put("auto.create.topics.enable", "false");
        connect = new EmbeddedConnectCluster.Builder().name("shopstream-influxdb-sink").numBrokers(1).numWorkers(1)
                .workerProps(workerProps).brokerProps(brokerProps).build();
        connect.start();
        admin = connect.kafka().createAdminClient();
    }

    @AfterAll
    static void stopClusters() throws Exception {
        try {
            if (admin != null) {
                admin.close();
            }
            if (connect != null) {
                connect.stop();
            }
        } finally {
            if (influxd != null) {
                influxd.close();
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    private static Map<String, String> sink(String topic, String url, String... overrides) {
        Map<String, String> c = new HashMap<>();
        c.put("connector.class", InfluxDbSinkConnector.class.getName());
        c.put("topics", topic);
        c.put("tasks.max", "1");
        c.put("key.converter", "org.apache.kafka.connect.storage.StringConverter");
        c.put("value.converter", "org.apache.kafka.connect.json.JsonConverter");
        c.put("value.converter.schemas.enable", "false");
        c.put("influxdb.url", url);
        c.put("influxdb.db", DB);
        c.put("tags.fields", "id");
        c.put("linger.ms", "20");
        c.put("influxdb.timeout.ms", "60000");
        for (int i = 0; i + 1 < overrides.length; i += 2) {
            c.put(overrides[i], overrides[i + 1]);
        }
        return c;
    }

    /** Records {@code from} (inclusive) to {@code to} (exclusive): {"id": "r<i>", "amount": <i>.5}, partition i % partitions. */
    private static void produce(String topic, int partitions, int from, int to) {
        for (int i = from; i < to; i++) {
            connect.kafka().produce(topic, i % partitions, null, "{\"id\":\"r" + i + "\",\"amount\":" + i + ".5}");
        }
    }

    /** @return the sink group's committed offsets of the topic, summed over its partitions (-1 for a partition without one) */
    private static long committed(String connector, String topic, int partitions) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets("connect-" + connector)
                .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
        long sum = 0;
        for (int p = 0; p < partitions; p++) {
            OffsetAndMetadata o = offsets.get(new TopicPartition(topic, p));
            sum += o == null ? -1 : o.offset();
        }
        return sum;
    }

    private static long points(String topic) throws Exception {
        return influxd.count(DB, topic, "amount");
    }

    /** Waits until both the committed offsets (summed) and the points of the topic's measurement reach the numbers. */
    private static void awaitCommittedAndPoints(String connector, String topic, int partitions, long offsets, long points) throws Exception {
        long[] last = new long[2];
        TestUtils.waitForCondition(() -> {
            last[0] = committed(connector, topic, partitions);
            last[1] = points(topic);
            assertTrue(last[0] <= offsets, "committed past the expected offsets: " + last[0] + " > " + offsets);
            assertTrue(last[1] <= points, "more points than records: " + last[1] + " > " + points);
            return last[0] == offsets && last[1] == points;
        }, WAIT_MS, () -> "expected committed " + offsets + " and " + points + " points, last seen " + last[0] + " and " + last[1]);
    }

    private static ConnectorStateInfo.TaskState task(String connector, int id) {
        for (ConnectorStateInfo.TaskState t : connect.connectorStatus(connector).tasks()) {
            if (t.id() == id) {
                return t;
            }
        }
        return null;
    }

    private static String describe(ConnectorStateInfo.TaskState t) {
        return t == null ? "(no task)" : t.state() + (t.trace() == null ? "" : ": " + t.trace());
    }

    private static void awaitTaskState(String connector, String state) throws InterruptedException {
        TestUtils.waitForCondition(() -> {
            ConnectorStateInfo.TaskState t = task(connector, 0);
            return t != null && t.state().equals(state);
        }, WAIT_MS, () -> "task 0 of " + connector + " never reached " + state + ": " + describe(task(connector, 0)));
    }

    private static void startConnector(String name, Map<String, String> config, int tasks) throws InterruptedException {
        connect.configureConnector(name, config);
        connect.assertions().assertConnectorAndExactlyNumTasksAreRunning(name, tasks, "connector " + name + " did not start");
    }

    // ---------------------------------------------------------------- scenarios

    /**
     * The scenario: errors.tolerance=none, no DLQ, a record InfluxDB refuses (a string where the series holds
     * floats) at offset 50 of 151. The task fails, the group's offset stays at 50 (not 151), the 150 good records are
     * stored; a restarted task meets the record again and fails again, still at 50.
     */
    @Test
    @Order(1)
    void toleranceNoneFailsOnTheRefusedRecordEveryTimeAndNeverCommitsPastIt() throws Exception {
        String topic = "t-none";
        String name = "sink-none";
        connect.kafka().createTopic(topic, 1);
        try (SlowProxy counter = new SlowProxy(influxd.url())) {
            startConnector(name, sink(topic, counter.url()), 1);
            produce(topic, 1, 0, 50);
            awaitCommittedAndPoints(name, topic, 1, 50, 50);
            // the next 101 records arrive while the connector is paused: on resume one poll brings them all, one batch
            connect.pauseConnector(name);
            connect.assertions().assertConnectorAndExactlyNumTasksArePaused(name, 1, "connector " + name + " did not pause");
            connect.kafka().produce(topic, 0, null, "{\"id\":\"r50\",\"amount\":\"fifty\"}");
            produce(topic, 1, 51, 151);
            connect.resumeConnector(name);
            awaitTaskState(name, "FAILED");
            String trace = task(name, 0).trace();
            assertTrue(trace.contains("Record t-none-0@50 cannot be written to InfluxDB") && trace.contains("field type conflict"), trace);
            // the worker committed while closing the failed task: what preCommit returned
            assertEquals(50L, committed(name, topic, 1));
            TestUtils.waitForCondition(() -> points(topic) == 150L, WAIT_MS, "the 150 good records stored");

            int writesBefore = counter.writes();
            connect.restartTask(name, 0);
            TestUtils.waitForCondition(() -> counter.writes() > writesBefore && "FAILED".equals(task(name, 0).state()), WAIT_MS,
                    () -> "the restarted task did not meet the record again: " + describe(task(name, 0)));
            assertTrue(task(name, 0).trace().contains("Record t-none-0@50 cannot be written"), task(name, 0).trace());
            assertEquals(50L, committed(name, topic, 1));
            assertEquals(150L, points(topic));
        } finally {
            connect.deleteConnector(name);
        }
    }

    /** errors.tolerance=all with a DLQ: exactly the refused record goes there, with InfluxDB's reason; everything is committed. */
    @Test
    @Order(2)
    void toleranceAllSendsExactlyTheRefusedRecordToTheDlqWithTheReason() throws Exception {
        String topic = "t-all";
        String name = "sink-all";
        String dlq = "t-all-dlq";
        connect.kafka().createTopic(topic, 1);
        try {
            startConnector(name, sink(topic, influxd.url(), "errors.tolerance", "all", "errors.deadletterqueue.topic.name", dlq,
                    "errors.deadletterqueue.topic.replication.factor", "1", "errors.deadletterqueue.context.headers.enable", "true"), 1);
            produce(topic, 1, 0, 50);
            awaitCommittedAndPoints(name, topic, 1, 50, 50);
            connect.kafka().produce(topic, 0, null, "{\"id\":\"r50\",\"amount\":\"fifty\"}");
            produce(topic, 1, 51, 151);
            awaitCommittedAndPoints(name, topic, 1, 151, 150);
            assertEquals("RUNNING", task(name, 0).state());
            assertEquals(1L, connect.kafka().endOffset(new TopicPartition(dlq, 0)), "one record in the DLQ");
            ConsumerRecords<byte[], byte[]> records = connect.kafka().consume(1, WAIT_MS, dlq);
            ConsumerRecord<byte[], byte[]> r = records.iterator().next();
            assertEquals("{\"id\":\"r50\",\"amount\":\"fifty\"}", new String(r.value(), StandardCharsets.UTF_8));
            assertEquals("t-all", header(r, "__connect.errors.topic"));
            assertEquals("50", header(r, "__connect.errors.offset"));
            String reason = header(r, "__connect.errors.exception.message");
            // 1.13 names the database and retention policy after the count; 1.6.7 did not
            assertTrue(reason.matches(Pattern.quote("InfluxDB refused the point (HTTP 400): partial write: field type conflict: input field "
                    + "\"amount\" on measurement \"t-all\" is type string, already exists as type float dropped=1")
                    + "( for database: connect_it for retention policy: autogen)?" + Pattern.quote("; line: t-all,id=r50 amount=\"fifty\" ")
                    + "\\d+"), reason);
        } finally {
            connect.deleteConnector(name);
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String key) {
        Header h = r.headers().lastHeader(key);
        assertNotNull(h, key);
        return new String(h.value(), StandardCharsets.UTF_8);
    }

    /**
     * A task whose write hangs (InfluxDB answering slowly) does not stop within the graceful timeout when the task is
     * restarted: the new instance starts anyway (its metrics under an extra instance tag, which the old instance's
     * eventual close leaves alone), and once InfluxDB answers every record is stored once and committed.
     */
    @Test
    @Order(3)
    void aTaskThatCannotStopInTimeDoesNotKeepItsSuccessorFromStarting() throws Exception {
        String topic = "t-slow";
        String name = "sink-slow";
        connect.kafka().createTopic(topic, 1);
        MBeanServer jmx = ManagementFactory.getPlatformMBeanServer();
        ObjectName plain = new ObjectName("kafka.connect:type=plugins,connector=" + name + ",task=0");
        ObjectName any = new ObjectName("kafka.connect:type=plugins,connector=" + name + ",*");
        try (SlowProxy proxy = new SlowProxy(influxd.url())) {
            startConnector(name, sink(topic, proxy.url(), "linger.ms", "0", "consumer.override.max.poll.interval.ms", "240000"), 1);
            produce(topic, 1, 0, 10);
            awaitCommittedAndPoints(name, topic, 1, 10, 10);
            assertTrue(jmx.isRegistered(plain));

            proxy.hold();
            produce(topic, 1, 10, 20);
            TestUtils.waitForCondition(() -> proxy.held() > 0, WAIT_MS, "a write hanging in InfluxDB");
            connect.restartTask(name, 0); // the worker gives up waiting for the old instance after 1 s and starts a new one
            TestUtils.waitForCondition(() -> tagged(jmx, any) != null, WAIT_MS,
                    () -> "no second instance registered its metrics: " + jmx.queryNames(any, null) + "; task " + describe(task(name, 0)));
            awaitTaskState(name, "RUNNING");
            assertTrue(jmx.isRegistered(plain), "the hanging instance still holds the plain name");

            proxy.release();
            awaitCommittedAndPoints(name, topic, 1, 20, 20);
            TestUtils.waitForCondition(() -> !jmx.isRegistered(plain), WAIT_MS, "the old instance closed its metrics");
            ObjectName successor = tagged(jmx, any);
            assertNotNull(successor, "the old instance's close left the successor's metrics alone");
            produce(topic, 1, 20, 25);
            awaitCommittedAndPoints(name, topic, 1, 25, 25);
            double written = (Double) jmx.getAttribute(successor, "points-written-total");
            assertTrue(written >= 5.0, "the successor's own count: " + written);
            assertEquals("RUNNING", task(name, 0).state());
        } finally {
            connect.deleteConnector(name);
        }
    }

    private static ObjectName tagged(MBeanServer jmx, ObjectName pattern) {
        for (ObjectName n : jmx.queryNames(pattern, null)) {
            if (n.getKeyProperty(SinkMetrics.INSTANCE_TAG) != null) {
                return n;
            }
        }
        return null;
    }

    /** Tasks move when a worker joins and when it leaves: nothing lost, nothing committed early. */
    @Test
    @Order(4)
    void aWorkerJoiningAndLeavingMovesTasksWithoutLoss() throws Exception {
        String topic = "t-rebalance";
        String name = "sink-rebalance";
        connect.kafka().createTopic(topic, 4);
        try {
            startConnector(name, sink(topic, influxd.url(), "tasks.max", "2"), 2);
            produce(topic, 4, 0, 100);
            awaitCommittedAndPoints(name, topic, 4, 100, 100);
            WorkerHandle added = connect.addWorker();
            connect.assertions().assertExactlyNumWorkersAreUp(2, "the second worker did not join");
            produce(topic, 4, 100, 200);
            awaitCommittedAndPoints(name, topic, 4, 200, 200);
            connect.removeWorker(added);
            connect.assertions().assertExactlyNumWorkersAreUp(1, "the second worker did not leave");
            produce(topic, 4, 200, 300);
            awaitCommittedAndPoints(name, topic, 4, 300, 300);
            connect.assertions().assertConnectorAndExactlyNumTasksAreRunning(name, 2, "tasks not running after the rebalances");
        } finally {
            connect.deleteConnector(name);
        }
    }

    /** The broker goes down and comes back: the task keeps (or regains) RUNNING; every record is stored once and committed. */
    @Test
    @Order(5)
    void aBrokerBounceLosesNothing() throws Exception {
        String topic = "t-bounce";
        String name = "sink-bounce";
        connect.kafka().createTopic(topic, 1);
        try {
            // a consumer that notices the broker's return within seconds, not the default 45 s session
            startConnector(name, sink(topic, influxd.url(), "consumer.override.session.timeout.ms", "6000",
                    "consumer.override.heartbeat.interval.ms", "1000"), 1);
            produce(topic, 1, 0, 100);
            awaitCommittedAndPoints(name, topic, 1, 100, 100);
            connect.kafka().stopOnlyBrokers();
            connect.kafka().restartOnlyBrokers();
            produce(topic, 1, 100, 200);
            awaitCommittedAndPoints(name, topic, 1, 200, 200);
            List<String> states = new ArrayList<>();
            for (ConnectorStateInfo.TaskState t : connect.connectorStatus(name).tasks()) {
                states.add(t.state());
            }
            assertEquals(List.of("RUNNING"), states);
        } finally {
            connect.deleteConnector(name);
        }
    }
}
