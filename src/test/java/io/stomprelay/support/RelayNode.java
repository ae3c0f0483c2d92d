package io.stomprelay.support;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import io.stomprelay.StompRelayApplication;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.WebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;

/**
 * One stomp-relay node: a full application context on a random port, pointed at a test Redis.
 */
public final class RelayNode implements AutoCloseable {

	private final String id;

	private final ConfigurableApplicationContext context;

	private RelayNode(String id, ConfigurableApplicationContext context) {
		this.id = id;
		this.context = context;
	}

	/**
	 * @param extraSourcesAndProperties configuration classes, and {@code name=value} properties: plain
	 * ones are defaults (below {@code application.yml}), ones written {@code --name=value} are
	 * command-line arguments and override it, as an environment variable would
	 */
	public static RelayNode start(String id, RedisTestServer redis, Object... extraSourcesAndProperties) {
		return start(id, Map.of("spring.data.redis.url", redis.url()), extraSourcesAndProperties);
	}

	/**
	 * @param redis the {@code spring.data.redis.*} properties that point the node at its Redis (a
	 * standalone Redis, a Redis Cluster or Sentinels)
	 * @param extraSourcesAndProperties as for {@link #start(String, RedisTestServer, Object...)}
	 */
	public static RelayNode start(String id, Map<String, ?> redis, Object... extraSourcesAndProperties) {
		Map<String, Object> properties = new HashMap<>(redis);
		properties.put("server.port", 0);
		properties.put("stomp-relay.node-id", id);
		properties.put("stomp-relay.auth.jwt.secret", TestTokens.SECRET);
		properties.put("stomp-relay.demo.enabled", true);
		properties.put("spring.main.banner-mode", "off");
		SpringApplicationBuilder builder = new SpringApplicationBuilder(StompRelayApplication.class);
		List<String> arguments = new ArrayList<>();
		for (Object extra : extraSourcesAndProperties) {
			if (extra instanceof Class<?> source) {
				builder.sources(source);
			}
			else if (extra instanceof String argument && argument.startsWith("--")) {
				arguments.add(argument);
			}
			else if (extra instanceof String property) {
				int equals = property.indexOf('=');
				properties.put(property.substring(0, equals), property.substring(equals + 1));
			}
		}
		return new RelayNode(id, builder.properties(properties).run(arguments.toArray(String[]::new)));
	}

	public String id() {
		return this.id;
	}

	public int port() {
		return webServer().getPort();
	}

	public WebServer webServer() {
		return ((WebServerApplicationContext) this.context).getWebServer();
	}

	public String wsUrl() {
		return "ws://127.0.0.1:" + port() + "/ws";
	}

	public String httpUrl() {
		return "http://127.0.0.1:" + port();
	}

	public <T> T bean(Class<T> type) {
		return this.context.getBean(type);
	}

	public <T> T bean(String name, Class<T> type) {
		return this.context.getBean(name, type);
	}

	@Override
	public void close() {
		this.context.close();
	}

}
