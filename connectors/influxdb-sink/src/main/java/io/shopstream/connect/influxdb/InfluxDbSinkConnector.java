package io.shopstream.connect.influxdb;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.Config;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * shopstream's Kafka Connect sink for InfluxDB 1.x. Every task gets the connector's configuration; Kafka's consumer
 * group spreads the topic partitions over them.
 */
public class InfluxDbSinkConnector extends SinkConnector {
    private static final Logger log = LoggerFactory.getLogger(InfluxDbSinkConnector.class);

    private Map<String, String> props;

    @Override
    public String version() {
        return Version.get();
    }

    /** @throws org.apache.kafka.common.config.ConfigException with the same messages as {@link #validate} */
    @Override
    public void start(Map<String, String> props) {
        InfluxDbSinkConfig config = new InfluxDbSinkConfig(props);
        this.props = Map.copyOf(props);
        log.info("InfluxDB sink connector {} started for url={} db={}", Version.get(), config.url(), config.db());
    }

    @Override
    public Class<? extends Task> taskClass() {
        return InfluxDbSinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> configs = new ArrayList<>(maxTasks);
        for (int i = 0; i < maxTasks; i++) {
            configs.add(props);
        }
        return configs;
    }

    @Override
    public void stop() {
        props = null;
    }

    @Override
    public ConfigDef config() {
        return InfluxDbSinkConfig.configDef();
    }

    /** Every bad or inconsistent setting, each on its own ConfigValue (what {@code PUT .../config/validate} shows). */
    @Override
    public Config validate(Map<String, String> connectorConfigs) {
        return new Config(new ArrayList<>(InfluxDbSinkConfig.validate(connectorConfigs).values()));
    }

    /** The connector keeps no offsets of its own (only the consumer group's): resetting or altering them is safe. */
    @Override
    public boolean alterOffsets(Map<String, String> connectorConfig, Map<TopicPartition, Long> offsets) {
        return true;
    }
}
