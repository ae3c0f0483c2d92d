package io.stomprelay.support;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A bare WebSocket (the JDK's client) that sends raw STOMP text and records every frame and the
 * close, for tests of what the server answers to bad input.
 */
public final class RawStompSocket implements AutoCloseable {

	private final WebSocket socket;

	private final List<String> frames = new CopyOnWriteArrayList<>();

	private final CompletableFuture<Integer> closed = new CompletableFuture<>();

	private RawStompSocket(String wsUrl) {
		StringBuilder partial = new StringBuilder();
		this.socket = HttpClient.newHttpClient()
			.newWebSocketBuilder()
			.connectTimeout(Duration.ofSeconds(5))
			.buildAsync(URI.create(wsUrl), new WebSocket.Listener() {
				@Override
				public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
					partial.append(data);
					if (last) {
						RawStompSocket.this.frames.add(partial.toString());
						partial.setLength(0);
					}
					webSocket.request(1);
					return null;
				}

				@Override
				public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
					webSocket.request(1);
					return null;
				}

				@Override
				public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
					RawStompSocket.this.closed.complete(statusCode);
					return null;
				}

				@Override
				public void onError(WebSocket webSocket, Throwable error) {
					RawStompSocket.this.closed.complete(-1);
				}
			})
			.orTimeout(5, TimeUnit.SECONDS)
			.join();
	}

	public static RawStompSocket open(String wsUrl) {
		return new RawStompSocket(wsUrl);
	}

	/** Sends one text WebSocket message as is. */
	public RawStompSocket sendText(String text) {
		this.socket.sendText(text, true).orTimeout(5, TimeUnit.SECONDS).join();
		return this;
	}

	/** Sends a STOMP frame built from a command, header lines and a body. */
	public RawStompSocket sendFrame(String command, String body, String... headers) {
		StringBuilder frame = new StringBuilder(command).append('\n');
		for (String header : headers) {
			frame.append(header).append('\n');
		}
		frame.append('\n').append(body).append('\0');
		return sendText(frame.toString());
	}

	public List<String> frames() {
		return List.copyOf(this.frames);
	}

	/** @return the first frame with this command, if any */
	public String firstFrame(String command) {
		return this.frames.stream().filter(f -> f.startsWith(command + "\n")).findFirst().orElse(null);
	}

	public boolean isClosed() {
		return this.closed.isDone();
	}

	@Override
	public void close() {
		if (!this.closed.isDone()) {
			this.socket.abort();
		}
	}

	/** @return the value of a header in a raw frame, or {@code null} */
	public static String header(String frame, String name) {
		for (String line : frame.split("\n")) {
			if (line.isEmpty()) {
				break;
			}
			if (line.startsWith(name + ":")) {
				return line.substring(name.length() + 1);
			}
		}
		return null;
	}

}
