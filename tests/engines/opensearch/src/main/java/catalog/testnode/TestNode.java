package catalog.testnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch in this JVM, for the tests and for `make opensearch`.
 *
 * <p>Usage: {@code TestNode <home folder> <http port>}. The node keeps its data under the home
 * folder, listens on 127.0.0.1 only, and runs until SIGTERM or SIGINT, when it closes cleanly.
 * Security is off: there is no security plugin on the classpath.
 */
public final class TestNode {

    /** The plugins the catalog's adapter uses, loaded from the classpath, not a plugins folder. */
    static final List<Class<? extends Plugin>> PLUGINS =
            List.of(Netty4Plugin.class, CommonAnalysisPlugin.class, ReindexPlugin.class);

    /** Node's constructor that takes classpath plugins is protected: this is the way in. */
    static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    private TestNode() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TestNode <home folder> <http port>");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Settings settings = Settings.builder()
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("cluster.name", "catalog-test")
                .put("node.name", "catalog-test-node")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", args[1])
                // Another node on this machine (a second test run) must not make this one fail.
                .put("transport.port", "0")
                // A nearly full disk must not turn the test index read-only.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put("logger.level", "INFO")
                .build();
        LogConfigurator.configureWithoutConfig(settings);
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, Map.of(), home.resolve("config"), () -> "catalog-test-node");
        Node node = new ClasspathNode(environment, PLUGINS);

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "catalog-test-node-shutdown"));

        node.start();
        System.out.println("catalog test node: listening on http://127.0.0.1:" + args[1]);
        closed.await();
    }
}
