package io.stomprelay.support;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A bare WebSocket (the JDK's client) that sends raw STOMP text and records every frame and the
 * close, for tests of what the server answers to bad input and for impatient clients that send
 * frames back to back, several in one WebSocket message if they like ({@link #sendFrames}).
 * <p>All sockets share one {@link HttpClient} (one selector thread), so a test can open a thousand
 * of them without a thousand threads.
 */
public final class RawStompSocket implements AutoCloseable {

	private static final AtomicInteger THREADS = new AtomicInteger();

	private static final ExecutorService LISTENERS = Executors.newCachedThreadPool(runnable -> {
		Thread thread = new Thread(runnable, "raw-stomp-socket-" + THREADS.incrementAndGet());
		thread.setDaemon(true);
		return thread;
	});

	private static final HttpClient HTTP = HttpClient.newBuilder()
		.executor(LISTENERS)
		.connectTimeout(Duration.ofSeconds(5))
		.build();

	private final WebSocket socket;

	private final List<String> frames = new CopyOnWriteArrayList<>();

	private final List<Waiter> waiters = new ArrayList<>();

	private final CompletableFuture<Integer> closed = new CompletableFuture<>();

	private RawStompSocket(String wsUrl, Map<String, String> upgradeHeaders) {
		StringBuilder partial = new StringBuilder();
		WebSocket.Builder builder = HTTP.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(5));
		upgradeHeaders.forEach(builder::header);
		this.socket = builder
			.buildAsync(URI.create(wsUrl), new WebSocket.Listener() {
				@Override
				public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
					partial.append(data);
					if (last) {
						received(partial.toString());
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
		return new RawStompSocket(wsUrl, Map.of());
	}

	/**
	 * Opens the WebSocket with extra HTTP headers on the upgrade request (e.g. {@code Authorization}).
	 */
	public static RawStompSocket open(String wsUrl, Map<String, String> upgradeHeaders) {
		return new RawStompSocket(wsUrl, upgradeHeaders);
	}

	/**
	 * Opens a socket and sends CONNECT (STOMP 1.2, no heart-beats) without waiting for the answer.
	 * @param token a JWT, or {@code null} for an anonymous session
	 */
	public static RawStompSocket connect(String wsUrl, String token) {
		return open(wsUrl).sendText(connectFrame(token));
	}

	/** Opens a socket, sends CONNECT and waits for CONNECTED. */
	public static RawStompSocket connected(String wsUrl, String token) {
		RawStompSocket socket = connect(wsUrl, token);
		try {
			socket.awaitFrame("CONNECTED", Duration.ofSeconds(10));
		}
		catch (RuntimeException ex) {
			socket.close();
			throw ex;
		}
		return socket;
	}

	/** @return a CONNECT frame (STOMP 1.2, no heart-beats), with the token if there is one */
	public static String connectFrame(String token) {
		return (token != null)
				? frame("CONNECT", "", "accept-version:1.2", "heart-beat:0,0", "Authorization:Bearer " + token)
				: frame("CONNECT", "", "accept-version:1.2", "heart-beat:0,0");
	}

	/** @return one STOMP frame built from a command, header lines and a body */
	public static String frame(String command, String body, String... headers) {
		StringBuilder frame = new StringBuilder(command).append('\n');
		for (String header : headers) {
			frame.append(header).append('\n');
		}
		return frame.append('\n').append(body).append('\0').toString();
	}

	/** Sends one text WebSocket message as is. */
	public RawStompSocket sendText(String text) {
		this.socket.sendText(text, true).orTimeout(5, TimeUnit.SECONDS).join();
		return this;
	}

	/** Sends one binary WebSocket message as is (STOMP frames as UTF-8 bytes, whole or in parts). */
	public RawStompSocket sendBinary(byte[] bytes) {
		this.socket.sendBinary(ByteBuffer.wrap(bytes), true).orTimeout(5, TimeUnit.SECONDS).join();
		return this;
	}

	/** Sends a STOMP frame built from a command, header lines and a body. */
	public RawStompSocket sendFrame(String command, String body, String... headers) {
		return sendText(frame(command, body, headers));
	}

	/** Sends several complete STOMP frames (see {@link #frame}) in ONE WebSocket message. */
	public RawStompSocket sendFrames(String... frames) {
		return sendText(String.join("", frames));
	}

	public List<String> frames() {
		return List.copyOf(this.frames);
	}

	public int frameCount() {
		return this.frames.size();
	}

	/** @return the first frame with this command, if any */
	public String firstFrame(String command) {
		return this.frames.stream().filter(f -> f.startsWith(command + "\n")).findFirst().orElse(null);
	}

	/** @return the bodies of the MESSAGE frames for a destination, in arrival order */
	public List<String> messages(String destination) {
		List<String> bodies = new ArrayList<>();
		for (String frame : this.frames) {
			if (frame.startsWith("MESSAGE\n") && destination.equals(header(frame, "destination"))) {
				bodies.add(body(frame));
			}
		}
		return bodies;
	}

	/**
	 * @return completes when the {@code count}-th frame matching (counting those already received)
	 * has arrived, with that frame
	 */
	public CompletableFuture<String> whenFrame(Predicate<String> matcher, int count) {
		Waiter waiter = new Waiter(matcher, count);
		String reached = null;
		synchronized (this.waiters) {
			for (String frame : this.frames) {
				if (waiter.reached(frame)) {
					reached = frame;
					break;
				}
			}
			if (reached == null) {
				this.waiters.add(waiter);
			}
		}
		if (reached != null) {
			waiter.future.complete(reached);
		}
		return waiter.future;
	}

	/** Waits for the first frame with this command; fails on ERROR or close first, or on timeout. */
	public String awaitFrame(String command, Duration timeout) {
		CompletableFuture<String> wanted = whenFrame(f -> f.startsWith(command + "\n") || f.startsWith("ERROR\n"), 1);
		String frame;
		try {
			frame = CompletableFuture.anyOf(wanted, this.closed.thenApply(code -> (Object) null))
				.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
				.thenApply(f -> (String) f)
				.join();
		}
		catch (RuntimeException ex) {
			throw new IllegalStateException("no " + command + " within " + timeout, ex);
		}
		if (frame == null) {
			frame = wanted.getNow(null);
		}
		if (frame == null || !frame.startsWith(command + "\n")) {
			throw new IllegalStateException("expected " + command + " but got "
					+ ((frame != null) ? "ERROR " + header(frame, "message") : "a close"));
		}
		return frame;
	}

	public boolean isClosed() {
		return this.closed.isDone();
	}

	/** @return completes with the close status code (-1 on an error) when the socket closes */
	public CompletableFuture<Integer> closeFuture() {
		return this.closed;
	}

	@Override
	public void close() {
		if (!this.closed.isDone()) {
			this.socket.abort();
			this.closed.complete(-2);
		}
	}

	private void received(String frame) {
		List<Waiter> reached = new ArrayList<>();
		synchronized (this.waiters) {
			this.frames.add(frame);
			this.waiters.removeIf(waiter -> waiter.reached(frame) && reached.add(waiter));
		}
		// completed outside the lock: what depends on a frame may send frames itself
		reached.forEach(waiter -> waiter.future.complete(frame));
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

	/** @return the body of a raw frame, without the terminating NUL */
	public static String body(String frame) {
		int start = frame.indexOf("\n\n");
		if (start < 0) {
			return "";
		}
		int end = frame.indexOf('\0', start + 2);
		return frame.substring(start + 2, (end >= 0) ? end : frame.length());
	}

	private static final class Waiter {

		final Predicate<String> matcher;

		final CompletableFuture<String> future = new CompletableFuture<>();

		int remaining;

		Waiter(Predicate<String> matcher, int count) {
			this.matcher = matcher;
			this.remaining = Math.max(1, count);
		}

		/** @return whether this frame is the one waited for */
		boolean reached(String frame) {
			return this.matcher.test(frame) && --this.remaining == 0;
		}

	}

}
