package io.stomprelay.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import redis.embedded.RedisServer;

/**
 * A real redis-server (7.0, from the embedded-redis dependency) on a free loopback port, started and
 * stopped by the tests themselves. It can be stopped (gracefully) or killed (SIGKILL) and started
 * again on the same port to simulate an outage.
 */
public final class RedisTestServer implements AutoCloseable {

	private final int port;

	private final RedisServer server;

	private RedisTestServer(int port) {
		this.port = port;
		this.server = RedisServer.builder()
			.port(port)
			.setting("bind 127.0.0.1")
			.setting("save \"\"")
			.setting("appendonly no")
			.build();
	}

	public static RedisTestServer start() {
		RedisTestServer redis = new RedisTestServer(freePort());
		redis.server.start();
		return redis;
	}

	public int port() {
		return this.port;
	}

	public String url() {
		return "redis://127.0.0.1:" + this.port;
	}

	public void stop() {
		this.server.stop();
	}

	/**
	 * Kills the redis-server process with SIGKILL, as a crash would: no clean close of its client
	 * connections. The process is found among this JVM's descendants by the port in its command
	 * line. Returns once the process is gone; {@link #restart()} starts a new one on the same port.
	 */
	public void kill() {
		List<ProcessHandle> processes = serverProcesses();
		if (processes.isEmpty()) {
			throw new IllegalStateException("no redis-server process on port " + this.port + " among this JVM's descendants");
		}
		for (ProcessHandle process : processes) {
			process.destroyForcibly();
		}
		for (ProcessHandle process : processes) {
			process.onExit().orTimeout(5, TimeUnit.SECONDS).join();
		}
		// embedded-redis still takes the instance as active (and its start() would refuse): its stop()
		// on the dead process only resets that state
		this.server.stop();
	}

	/** Starts redis-server again on the same port, after {@link #stop()} or {@link #kill()}. */
	public void restart() {
		if (this.server.isActive()) {
			throw new IllegalStateException("redis-server on port " + this.port + " is still running");
		}
		this.server.start();
	}

	/** @return whether a redis-server process for this port is running */
	public boolean isRunning() {
		return !serverProcesses().isEmpty();
	}

	private List<ProcessHandle> serverProcesses() {
		Pattern port = Pattern.compile("(?<!\\d)" + this.port + "(?!\\d)");
		return ProcessHandle.current()
			.descendants()
			.filter(ProcessHandle::isAlive)
			.filter(process -> {
				String commandLine = commandLine(process);
				return commandLine.contains("redis-server") && port.matcher(commandLine).find();
			})
			.toList();
	}

	/**
	 * redis-server rewrites its argv to a title such as {@code redis-server 127.0.0.1:6379}, which
	 * the JDK's {@code ProcessHandle.Info} does not show (it drops the arguments), so on Linux the
	 * command line is read from {@code /proc}.
	 */
	private static String commandLine(ProcessHandle process) {
		try {
			byte[] raw = Files.readAllBytes(Path.of("/proc", String.valueOf(process.pid()), "cmdline"));
			return new String(raw, StandardCharsets.UTF_8).replace('\0', ' ');
		}
		catch (IOException | RuntimeException ex) {
			return process.info().commandLine().orElse("");
		}
	}

	@Override
	public void close() {
		if (this.server.isActive()) {
			this.server.stop();
		}
	}

	public static int freePort() {
		try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			return socket.getLocalPort();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

}
