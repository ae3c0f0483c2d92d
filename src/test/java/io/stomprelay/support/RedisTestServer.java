package io.stomprelay.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

import redis.embedded.RedisServer;

/**
 * A real redis-server (7.0, from the embedded-redis dependency) on a free loopback port, started and
 * stopped by the tests themselves. It can be stopped and started again on the same port to simulate
 * an outage.
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

	public void restart() {
		this.server.start();
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
