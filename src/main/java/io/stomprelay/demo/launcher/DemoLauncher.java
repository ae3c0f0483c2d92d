package io.stomprelay.demo.launcher;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.stomprelay.StompRelayApplication;
import redis.embedded.RedisServer;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * The local demo behind {@code ./mvnw spring-boot:run}: starts a real redis-server (shipped inside a
 * Maven dependency) on a free port and two stomp-relay nodes on 8080 and 8081 in this JVM, with the
 * demo enabled and a freshly generated JWT secret shared by both. Ports can be changed with
 * {@code -Ddemo.ports=9080,9081}. Never used by the production jar's entry point.
 */
public final class DemoLauncher {

	private DemoLauncher() {
	}

	public static void main(String[] args) throws IOException {
		int redisPort = freePort();
		RedisServer redis = RedisServer.builder()
			.port(redisPort)
			.setting("bind 127.0.0.1")
			.setting("save \"\"")
			.setting("appendonly no")
			.build();
		redis.start();
		String secret = randomSecret();
		String[] ports = System.getProperty("demo.ports", "8080,8081").split(",");
		List<String> origins = new ArrayList<>();
		for (String port : ports) {
			origins.add("http://localhost:" + port.trim());
			origins.add("http://127.0.0.1:" + port.trim());
		}
		List<ConfigurableApplicationContext> nodes = new ArrayList<>();
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			nodes.forEach(ConfigurableApplicationContext::close);
			redis.stop();
		}, "demo-shutdown"));
		char name = 'a';
		for (String port : ports) {
			Map<String, Object> properties = new HashMap<>();
			properties.put("server.port", port.trim());
			properties.put("spring.data.redis.host", "127.0.0.1");
			properties.put("spring.data.redis.port", redisPort);
			properties.put("stomp-relay.node-id", "node-" + name++);
			properties.put("stomp-relay.auth.jwt.secret", secret);
			properties.put("stomp-relay.demo.enabled", true);
			properties.put("stomp-relay.allowed-origins", String.join(",", origins));
			nodes.add(new SpringApplicationBuilder(StompRelayApplication.class).properties(properties).run(args));
		}
		StringBuilder banner = new StringBuilder("\n\nstomp-relay demo is up: Redis on 127.0.0.1:" + redisPort + "\n");
		name = 'a';
		for (String port : ports) {
			banner.append("  node-").append(name++).append(": http://localhost:").append(port.trim()).append('\n');
		}
		banner.append("Open one tab per node, sign in as the same user, press \"Send events\". Ctrl+C stops everything.\n");
		System.out.println(banner);
	}

	private static int freePort() throws IOException {
		try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			return socket.getLocalPort();
		}
	}

	private static String randomSecret() {
		byte[] bytes = new byte[48];
		new SecureRandom().nextBytes(bytes);
		return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
	}

}
