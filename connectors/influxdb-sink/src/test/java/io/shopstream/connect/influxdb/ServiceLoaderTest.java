package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

import org.apache.kafka.connect.sink.SinkConnector;
import org.junit.jupiter.api.Test;

/** The ServiceLoader manifest (plugin.discovery=service_load) names the connector. */
class ServiceLoaderTest {
    @Test
    void manifestNamesTheConnector() {
        List<String> found = new ArrayList<>();
        for (SinkConnector c : ServiceLoader.load(SinkConnector.class)) {
            if (c.getClass().getName().startsWith("io.shopstream.")) { // the test class path also has Connect's test connectors
                found.add(c.getClass().getName() + " " + c.version());
            }
        }
        assertEquals(List.of(InfluxDbSinkConnector.class.getName() + " " + System.getProperty("project.version")), found);
    }
}
