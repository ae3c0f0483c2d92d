package com.example.chat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;

import redis.embedded.RedisServer;

/**
 * A real redis-server (from the embedded-redis test dependency) on a free loopback port, started
 * and stopped by the test itself.
 */
final class RedisTestServer implements AutoCloseable {

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

	static RedisTestServer start() {
		RedisTestServer redis = new RedisTestServer(freePort());
		redis.server.start();
		return redis;
	}

	String url() {
		return "redis://127.0.0.1:" + this.port;
	}

	@Override
	public void close() {
		if (this.server.isActive()) {
			this.server.stop();
		}
	}

	private static int freePort() {
		try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			return socket.getLocalPort();
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

}
