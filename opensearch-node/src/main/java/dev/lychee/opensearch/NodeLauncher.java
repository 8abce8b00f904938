package dev.lychee.opensearch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.rankeval.RankEvalPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.percolator.PercolatorPlugin;
import org.opensearch.plugins.ExtensiblePlugin.ExtensionLoader;
import org.opensearch.plugins.Plugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch started from plain Maven jars (no distribution, no Docker).
 *
 * <p>Usage: {@code NodeLauncher --home DIR [--port N] [--exit-on-stdin-eof] [-Ekey=value ...]}.
 * Data and logs live under DIR; {@code --port 0} lets the node pick a free HTTP port, which it
 * writes to {@code DIR/logs/http.ports}. With {@code --exit-on-stdin-eof} the node stops when
 * its stdin closes, so a node started by a test process dies with that process.
 */
public final class NodeLauncher extends Node {

    /** The modules a stock distribution ships that a storefront relies on. */
    private static final List<Class<? extends Plugin>> PLUGINS = List.of(
            Netty4Plugin.class,
            CommonAnalysisPlugin.class,
            PainlessPlugin.class,
            MapperExtrasPlugin.class,
            ParentJoinPlugin.class,
            PercolatorPlugin.class,
            ReindexPlugin.class,
            RankEvalPlugin.class,
            MatrixAggregationPlugin.class,
            MustachePlugin.class,
            IngestCommonPlugin.class);

    private NodeLauncher(Environment environment, Collection<Class<? extends Plugin>> plugins) {
        super(environment, plugins, true);
    }

    /**
     * Plugins on the classpath never get {@code loadExtensions} called by the plugin service, so
     * Painless would lack the analysis and ingest allowlists. Its allowlist map is static, so
     * loading them through one throwaway instance (before the script engine is built) is enough.
     */
    private static void loadPainlessExtensions() {
        new PainlessPlugin().loadExtensions(new ExtensionLoader() {
            @Override
            public <T> List<T> loadExtensions(Class<T> type) {
                List<T> found = new ArrayList<>();
                ServiceLoader.load(type, NodeLauncher.class.getClassLoader()).forEach(found::add);
                return found;
            }
        });
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> overrides = new HashMap<>();
        Path home = null;
        String port = "9200";
        boolean exitOnStdinEof = false;
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--home") && i + 1 < args.length) {
                home = Path.of(args[++i]).toAbsolutePath();
            } else if (arg.equals("--port") && i + 1 < args.length) {
                port = args[++i];
            } else if (arg.equals("--exit-on-stdin-eof")) {
                exitOnStdinEof = true;
            } else if (arg.startsWith("-E") && arg.indexOf('=') > 2) {
                int eq = arg.indexOf('=');
                overrides.put(arg.substring(2, eq), arg.substring(eq + 1));
            } else {
                System.err.println("usage: NodeLauncher --home DIR [--port N] "
                        + "[--exit-on-stdin-eof] [-Ekey=value ...]; bad argument: " + arg);
                System.exit(2);
            }
        }
        if (home == null) {
            System.err.println("NodeLauncher: --home DIR is required");
            System.exit(2);
        }
        // OpenSearch refuses paths that do not exist yet.
        for (String dir : List.of("data", "logs", "config", "plugins", "modules")) {
            Files.createDirectories(home.resolve(dir));
        }
        Settings settings = Settings.builder()
                .put("path.home", home.toString())
                .put("path.data", home.resolve("data").toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("cluster.name", "lychee-dev")
                .put("node.name", "lychee-dev-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", port)
                .put("discovery.type", "single-node")
                .put("node.portsfile", "true")
                // One node can never hold a replica: default to none so new indices are green.
                .put("cluster.default_number_of_replicas", "0")
                // Test disks are often nearly full; don't let watermarks block writes.
                .put("cluster.routing.allocation.disk.threshold_enabled", "false")
                // 2.19 answers 500 to a range agg beside a date_histogram without this.
                .put("search.max_aggregation_rewrite_filters", "0")
                .build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(
                settings, overrides, home.resolve("config"), () -> "lychee-dev-node");

        loadPainlessExtensions();
        NodeLauncher node = new NodeLauncher(environment, PLUGINS);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            closeQuietly(node);
            stopped.countDown();
        }, "node-shutdown"));
        node.start();
        if (exitOnStdinEof) {
            startStdinWatchdog();
        }
        stopped.await();
    }

    /** Exit (running the shutdown hook) once stdin reaches EOF: the parent process is gone. */
    private static void startStdinWatchdog() {
        Thread watchdog = new Thread(() -> {
            InputStream in = System.in;
            byte[] buffer = new byte[256];
            try {
                while (in.read(buffer) >= 0) {
                    // Ignore input; only EOF matters.
                }
            } catch (IOException ignored) {
                // A broken stdin means the parent is gone too.
            }
            System.err.println("NodeLauncher: stdin closed, stopping the node");
            System.exit(0);
        }, "stdin-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    private static void closeQuietly(Node node) {
        try {
            node.close();
            node.awaitClose(20, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            System.err.println("NodeLauncher: error while stopping: " + e);
        }
    }
}
