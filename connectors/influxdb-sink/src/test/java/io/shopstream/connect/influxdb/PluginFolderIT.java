package io.shopstream.connect.influxdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.ServiceLoader;
import java.util.jar.JarFile;

import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.sink.SinkConnector;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;

/**
 * Runs in the package phase, after the jar was copied into the plugin folder: the folder holds exactly our jar, and
 * the connector loads from it through ServiceLoader in a class loader that sees only that jar plus what a Connect
 * worker provides (connect-api, kafka-clients, slf4j) - not target/classes.
 */
class PluginFolderIT {

    private static URL jarOf(Class<?> c) throws Exception {
        return c.getProtectionDomain().getCodeSource().getLocation().toURI().toURL();
    }

    @Test
    void pluginFolderHoldsOnlyTheConnectorJarAndItLoadsThroughServiceLoader() throws Exception {
        String version = System.getProperty("project.version");
        File dir = new File(System.getProperty("plugin.dir"));
        String[] files = dir.list();
        assertNotNull(files, dir + " missing");
        assertEquals(List.of("shopstream-influxdb-sink-" + version + ".jar"), Arrays.asList(files));
        File jar = new File(dir, files[0]);
        try (JarFile jf = new JarFile(jar)) {
            assertNotNull(jf.getEntry("META-INF/services/org.apache.kafka.connect.sink.SinkConnector"));
            assertNotNull(jf.getEntry("io/shopstream/connect/influxdb/version.properties"));
            for (String name : Collections.list(jf.entries()).stream().map(e -> e.getName()).toArray(String[]::new)) {
                boolean parentDir = name.endsWith("/") && "io/shopstream/connect/influxdb/".startsWith(name);
                assertTrue(name.startsWith("META-INF/") || name.startsWith("io/shopstream/connect/influxdb/") || parentDir,
                        "unexpected entry " + name);
            }
        }
        URL[] urls = {jar.toURI().toURL(), jarOf(SinkConnector.class), jarOf(ConfigDef.class), jarOf(Logger.class)};
        try (URLClassLoader loader = new URLClassLoader(urls, ClassLoader.getPlatformClassLoader())) {
            Class<?> api = Class.forName(SinkConnector.class.getName(), true, loader);
            assertNotSame(SinkConnector.class, api, "isolated from the test class path");
            List<Object> connectors = new ArrayList<>();
            for (Object c : ServiceLoader.load(api, loader)) {
                connectors.add(c);
            }
            assertEquals(1, connectors.size());
            Object connector = connectors.get(0);
            assertEquals("io.shopstream.connect.influxdb.InfluxDbSinkConnector", connector.getClass().getName());
            assertEquals(loader, connector.getClass().getClassLoader());
            assertEquals(version, connector.getClass().getMethod("version").invoke(connector));
            Class<?> taskClass = (Class<?>) connector.getClass().getMethod("taskClass").invoke(connector);
            Object task = taskClass.getConstructor().newInstance();
            assertEquals(version, taskClass.getMethod("version").invoke(task));
        }
    }
}
