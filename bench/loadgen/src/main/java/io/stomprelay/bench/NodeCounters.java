package io.stomprelay.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the server-side counters the scale run compares: a stomp-relay node's
 * {@code /actuator/prometheus} series, and Redis's own {@code INFO stats} (over a plain socket,
 * RESP inline command, so the generator needs no Redis client).
 */
final class NodeCounters {

	private NodeCounters() {
	}

	/** Every series of a scrape, {@code name{labels}} to value (comments skipped). */
	static Map<String, Double> scrape(HttpClient http, String baseUrl) throws IOException, InterruptedException {
		HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(baseUrl + "/actuator/prometheus"))
			.timeout(Duration.ofSeconds(10))
			.build(), HttpResponse.BodyHandlers.ofString());
		if (response.statusCode() != 200) {
			throw new IOException(baseUrl + "/actuator/prometheus answered " + response.statusCode());
		}
		Map<String, Double> series = new HashMap<>();
		response.body().lines().filter(line -> !line.isBlank() && !line.startsWith("#")).forEach(line -> {
			int space = line.lastIndexOf(' ');
			try {
				series.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
			}
			catch (RuntimeException ex) {
				// not a sample line
			}
		});
		return series;
	}

	/** Sum of every series of a metric name whose labels contain {@code labelFilter} (or all). */
	static double sum(Map<String, Double> series, String name, String labelFilter) {
		double total = 0;
		for (Map.Entry<String, Double> e : series.entrySet()) {
			String key = e.getKey();
			int brace = key.indexOf('{');
			String n = (brace < 0) ? key : key.substring(0, brace);
			if (n.equals(name) && (labelFilter == null || key.contains(labelFilter))) {
				total += e.getValue();
			}
		}
		return total;
	}

	/** The {@code node="..."} label of a scrape, or {@code null}. */
	static String nodeId(Map<String, Double> series) {
		for (String key : series.keySet()) {
			int i = key.indexOf("node=\"");
			if (key.startsWith("stomp_relay_") && i >= 0) {
				return key.substring(i + 6, key.indexOf('"', i + 6));
			}
		}
		return null;
	}

	/** Integer fields of Redis {@code INFO stats}, or an empty map when {@code hostPort} is null. */
	static Map<String, Long> redisStats(String hostPort) throws IOException {
		Map<String, Long> stats = new LinkedHashMap<>();
		if (hostPort == null || hostPort.isBlank()) {
			return stats;
		}
		int colon = hostPort.lastIndexOf(':');
		try (Socket socket = new Socket()) {
			socket.connect(new InetSocketAddress(hostPort.substring(0, colon),
					Integer.parseInt(hostPort.substring(colon + 1))), 5000);
			socket.setSoTimeout(5000);
			OutputStream out = socket.getOutputStream();
			out.write("INFO stats\r\n".getBytes(StandardCharsets.US_ASCII));
			out.flush();
			InputStream in = socket.getInputStream();
			String header = readLine(in);
			if (!header.startsWith("$")) {
				throw new IOException("unexpected INFO reply: " + header);
			}
			int length = Integer.parseInt(header.substring(1));
			byte[] body = in.readNBytes(length);
			for (String line : new String(body, StandardCharsets.UTF_8).split("\r\n")) {
				int c = line.indexOf(':');
				if (c > 0) {
					try {
						stats.put(line.substring(0, c), Long.parseLong(line.substring(c + 1)));
					}
					catch (NumberFormatException ex) {
						// not an integer field
					}
				}
			}
		}
		return stats;
	}

	private static String readLine(InputStream in) throws IOException {
		ByteArrayOutputStream line = new ByteArrayOutputStream();
		int b;
		while ((b = in.read()) >= 0 && b != '\n') {
			if (b != '\r') {
				line.write(b);
			}
		}
		return line.toString(StandardCharsets.US_ASCII);
	}

}
