package io.stomprelay.support;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import redis.embedded.RedisExecProvider;

import static org.awaitility.Awaitility.await;

/**
 * One redis-server process (the 7.0 binary of the embedded-redis dependency, the one
 * {@link RedisTestServer} runs) on a given loopback port, in its own working directory, started with
 * a list of config lines. It is handled by its process id only: {@link #kill()} sends SIGKILL to
 * that one process, and {@link #start()} starts it again on the same port and directory (a cluster
 * node finds its {@code nodes.conf} there and rejoins as itself).
 */
final class RedisProcess implements AutoCloseable {

	private static final Duration READY = Duration.ofSeconds(20);

	private final int port;

	private final Path directory;

	private final List<String> settings;

	private final boolean sentinel;

	private volatile Process process;

	/**
	 * @param settings redis.conf lines, e.g. {@code cluster-enabled yes}
	 * @param sentinel whether the process runs in Sentinel mode
	 */
	RedisProcess(int port, List<String> settings, boolean sentinel) {
		this.port = port;
		this.settings = List.copyOf(settings);
		this.sentinel = sentinel;
		try {
			this.directory = Files.createTempDirectory("redis-" + port + "-");
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	int port() {
		return this.port;
	}

	/** Starts the process and returns once it accepts connections on its port. */
	synchronized void start() {
		if (isRunning()) {
			throw new IllegalStateException("redis-server on port " + this.port + " is still running");
		}
		try {
			Path config = this.directory.resolve(this.sentinel ? "sentinel.conf" : "redis.conf");
			if (!this.sentinel || !Files.exists(config)) {
				// Sentinel rewrites its own file with what it learned; it is written once only
				List<String> lines = new ArrayList<>(List.of("port " + this.port, "bind 127.0.0.1",
						"dir " + this.directory, "save \"\"", "appendonly no", "protected-mode no"));
				lines.addAll(this.settings);
				Files.write(config, lines);
			}
			List<String> command = new ArrayList<>(List.of(binary().getAbsolutePath(), config.toString()));
			if (this.sentinel) {
				command.add("--sentinel");
			}
			this.process = new ProcessBuilder(command).directory(this.directory.toFile())
				.redirectErrorStream(true)
				.redirectOutput(this.directory.resolve("redis.log").toFile())
				.start();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
		await().atMost(READY).pollInterval(Duration.ofMillis(50)).until(this::accepts);
	}

	/** Kills the process with SIGKILL, as a crash would, and returns once it is gone. */
	synchronized void kill() {
		Process running = this.process;
		if (running == null || !running.isAlive()) {
			return;
		}
		running.destroyForcibly();
		running.onExit().orTimeout(10, TimeUnit.SECONDS).join();
	}

	boolean isRunning() {
		Process running = this.process;
		return running != null && running.isAlive();
	}

	/** @return the process id while it runs */
	long pid() {
		return this.process.pid();
	}

	/** @return the process's own log, for failure messages */
	String log() {
		try {
			return Files.readString(this.directory.resolve("redis.log"));
		}
		catch (IOException ex) {
			return "(no log: " + ex.getMessage() + ")";
		}
	}

	private boolean accepts() {
		if (!isRunning()) {
			throw new IllegalStateException("redis-server on port " + this.port + " exited:\n" + log());
		}
		try (Socket socket = new Socket()) {
			socket.connect(new InetSocketAddress("127.0.0.1", this.port), 200);
			return true;
		}
		catch (IOException ex) {
			return false;
		}
	}

	@Override
	public void close() {
		kill();
		try (var files = Files.walk(this.directory)) {
			files.sorted(java.util.Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
		}
		catch (IOException ex) {
			// a temporary directory left behind
		}
	}

	private static File binary() throws IOException {
		return RedisExecProvider.defaultProvider().get();
	}

}
