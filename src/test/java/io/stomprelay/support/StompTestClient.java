package io.stomprelay.support;

import java.lang.reflect.Type;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import java.nio.charset.StandardCharsets;

import jakarta.websocket.ContainerProvider;
import jakarta.websocket.WebSocketContainer;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.converter.MessageConverter;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.simp.stomp.StompFrameHandler;
import org.springframework.messaging.simp.stomp.StompHeaders;
import org.springframework.messaging.simp.stomp.StompSession;
import org.springframework.messaging.simp.stomp.StompSessionHandlerAdapter;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.WebSocketHttpHeaders;
import org.springframework.web.socket.client.standard.StandardWebSocketClient;
import org.springframework.web.socket.messaging.WebSocketStompClient;

/**
 * A real STOMP-over-WebSocket session for tests ({@link WebSocketStompClient}), recording every
 * MESSAGE it receives. {@link #subscribe} asks for a receipt and waits for it, so a test can send
 * right after it returns; {@link #subscribeNoWait} does not, like an impatient client.
 */
public final class StompTestClient implements AutoCloseable {

	private static final AtomicInteger RECEIPTS = new AtomicInteger();

	private final StompSession session;

	private final List<Received> received = new CopyOnWriteArrayList<>();

	private final List<String> errors;

	private static final int CLIENT_BUFFER = 128 * 1024;

	private final ThreadPoolTaskScheduler scheduler;

	private StompTestClient(StompSession session, List<String> errors, ThreadPoolTaskScheduler scheduler) {
		this.session = session;
		this.errors = errors;
		this.scheduler = scheduler;
	}

	/**
	 * @param token a JWT, or {@code null} for an anonymous session
	 */
	public static StompTestClient connect(String wsUrl, String token) {
		// The nodes in this JVM set Tomcat's JVM-wide WebSocket buffer default to 1 KB (see
		// ConnectionBuffers), which is also the default of Tomcat's client: this client, like any
		// WebSocket client in a node's JVM, sets its own.
		WebSocketContainer container = ContainerProvider.getWebSocketContainer();
		container.setDefaultMaxTextMessageBufferSize(CLIENT_BUFFER);
		container.setDefaultMaxBinaryMessageBufferSize(CLIENT_BUFFER);
		WebSocketStompClient client = new WebSocketStompClient(new StandardWebSocketClient(container));
		client.setMessageConverter(new TextConverter());
		ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();
		scheduler.setThreadNamePrefix("test-stomp-client-");
		scheduler.initialize();
		client.setTaskScheduler(scheduler);
		StompHeaders connect = new StompHeaders();
		if (token != null) {
			connect.add("Authorization", "Bearer " + token);
		}
		List<String> errors = new CopyOnWriteArrayList<>();
		try {
			StompSession session = client.connectAsync(wsUrl, new WebSocketHttpHeaders(), connect,
					new StompSessionHandlerAdapter() {
						@Override
						public void handleFrame(StompHeaders headers, Object payload) {
							errors.add(String.valueOf(headers.getFirst("message")));
						}

						@Override
						public void handleTransportError(StompSession session, Throwable exception) {
							errors.add("transport: " + exception.getClass().getSimpleName());
						}
					})
				.get(10, TimeUnit.SECONDS);
			return new StompTestClient(session, errors, scheduler);
		}
		catch (Exception ex) {
			scheduler.shutdown();
			throw new IllegalStateException("STOMP connect to " + wsUrl + " failed", ex);
		}
	}

	/** Subscribes and waits for the server's receipt. */
	public StompTestClient subscribe(String destination) {
		StompHeaders headers = new StompHeaders();
		headers.setDestination(destination);
		headers.setReceipt("r-" + RECEIPTS.incrementAndGet());
		CompletableFuture<Void> receipt = new CompletableFuture<>();
		StompSession.Subscription subscription = this.session.subscribe(headers, recorder(destination));
		subscription.addReceiptTask(() -> receipt.complete(null));
		subscription.addReceiptLostTask(() -> receipt.completeExceptionally(new IllegalStateException("no receipt")));
		receipt.orTimeout(10, TimeUnit.SECONDS).join();
		return this;
	}

	/**
	 * Subscribes like an impatient client (@stomp/stompjs apps): no receipt asked for, nothing
	 * waited for, so a SEND right after it follows the SUBSCRIBE back to back.
	 */
	public StompTestClient subscribeNoWait(String destination) {
		StompHeaders headers = new StompHeaders();
		headers.setDestination(destination);
		this.session.subscribe(headers, recorder(destination));
		return this;
	}

	private StompFrameHandler recorder(String destination) {
		return new StompFrameHandler() {
			@Override
			public Type getPayloadType(StompHeaders headers) {
				return String.class;
			}

			@Override
			public void handleFrame(StompHeaders headers, Object payload) {
				StompTestClient.this.received.add(new Received(destination, (String) payload, headers));
			}
		};
	}

	/** Sends a JSON (or plain) body to an application destination. */
	public void send(String destination, String body) {
		StompHeaders headers = new StompHeaders();
		headers.setDestination(destination);
		headers.setContentType(org.springframework.util.MimeTypeUtils.APPLICATION_JSON);
		this.session.send(headers, body);
	}

	/** @return the bodies received on a subscription, in arrival order */
	public List<String> bodies(String destination) {
		return this.received.stream().filter(r -> r.destination.equals(destination)).map(Received::body).toList();
	}

	public List<Received> received() {
		return List.copyOf(this.received);
	}

	public List<String> errors() {
		return List.copyOf(this.errors);
	}

	public boolean isConnected() {
		return this.session.isConnected();
	}

	@Override
	public void close() {
		if (this.session.isConnected()) {
			this.session.disconnect();
		}
		this.scheduler.shutdown();
	}

	/**
	 * Bodies as UTF-8 text whatever their content type, so tests see exactly the bytes sent.
	 */
	private static final class TextConverter implements MessageConverter {

		@Override
		public Object fromMessage(Message<?> message, Class<?> targetClass) {
			return new String((byte[]) message.getPayload(), StandardCharsets.UTF_8);
		}

		@Override
		public Message<?> toMessage(Object payload, MessageHeaders headers) {
			return MessageBuilder.createMessage(((String) payload).getBytes(StandardCharsets.UTF_8), headers);
		}

	}

	/**
	 * A received MESSAGE.
	 */
	public record Received(String destination, String body, StompHeaders headers) {
	}

}
