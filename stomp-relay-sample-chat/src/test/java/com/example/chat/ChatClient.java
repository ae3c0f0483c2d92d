package com.example.chat;

import java.lang.reflect.Type;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.springframework.messaging.converter.StringMessageConverter;
import org.springframework.messaging.simp.stomp.StompFrameHandler;
import org.springframework.messaging.simp.stomp.StompHeaders;
import org.springframework.messaging.simp.stomp.StompSession;
import org.springframework.messaging.simp.stomp.StompSessionHandlerAdapter;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.WebSocketHttpHeaders;
import org.springframework.web.socket.client.standard.StandardWebSocketClient;
import org.springframework.web.socket.messaging.WebSocketStompClient;

/**
 * A real STOMP-over-WebSocket session with one chat instance, as a user in the URL
 * ({@code /chat-ws?user=alice}), recording the text of every MESSAGE per subscribed destination.
 */
final class ChatClient implements AutoCloseable {

	private static final AtomicInteger RECEIPTS = new AtomicInteger();

	private final StompSession session;

	private final List<Received> received = new CopyOnWriteArrayList<>();

	private final List<String> errors = new CopyOnWriteArrayList<>();

	/** Times out RECEIPTs that do not come. */
	private final ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();

	private ChatClient(String url) {
		WebSocketStompClient client = new WebSocketStompClient(new StandardWebSocketClient());
		client.setMessageConverter(new StringMessageConverter());
		client.setDefaultHeartbeat(new long[] { 0, 0 });
		this.scheduler.setThreadNamePrefix("chat-client-");
		this.scheduler.initialize();
		client.setTaskScheduler(this.scheduler);
		try {
			this.session = client.connectAsync(url, new WebSocketHttpHeaders(), new StompHeaders(),
					new StompSessionHandlerAdapter() {
						@Override
						public void handleFrame(StompHeaders headers, Object payload) {
							ChatClient.this.errors.add("ERROR " + headers.getFirst("message"));
						}

						@Override
						public void handleTransportError(StompSession session, Throwable exception) {
							ChatClient.this.errors.add("transport: " + exception);
						}
					})
				.get(10, TimeUnit.SECONDS);
		}
		catch (Exception ex) {
			this.scheduler.shutdown();
			throw new IllegalStateException("STOMP connect to " + url + " failed", ex);
		}
	}

	/** Connects to {@code ws://127.0.0.1:<port>/chat-ws?user=<user>} and waits for CONNECTED. */
	static ChatClient connect(int port, String user) {
		return new ChatClient("ws://127.0.0.1:" + port + "/chat-ws?user=" + user);
	}

	/**
	 * Subscribes and waits for the RECEIPT: once it is here, the relay has this node listening for
	 * the destination, so a message sent anywhere afterwards reaches this subscription.
	 */
	ChatClient subscribe(String destination) {
		StompHeaders headers = new StompHeaders();
		headers.setDestination(destination);
		headers.setReceipt("receipt-" + RECEIPTS.incrementAndGet());
		CompletableFuture<Void> receipt = new CompletableFuture<>();
		StompSession.Subscription subscription = this.session.subscribe(headers, new StompFrameHandler() {
			@Override
			public Type getPayloadType(StompHeaders headers) {
				return String.class;
			}

			@Override
			public void handleFrame(StompHeaders headers, Object payload) {
				ChatClient.this.received.add(new Received(destination, (String) payload));
			}
		});
		subscription.addReceiptTask(() -> receipt.complete(null));
		subscription.addReceiptLostTask(() -> receipt.completeExceptionally(
				new IllegalStateException("no RECEIPT for the SUBSCRIBE to " + destination)));
		receipt.orTimeout(10, TimeUnit.SECONDS).join();
		return this;
	}

	/** Sends a text/plain body to an application destination. */
	void send(String destination, String text) {
		StompHeaders headers = new StompHeaders();
		headers.setDestination(destination);
		this.session.send(headers, text);
	}

	/** @return the bodies received on a subscription, in arrival order */
	List<String> bodies(String destination) {
		return this.received.stream().filter(r -> r.destination().equals(destination)).map(Received::body).toList();
	}

	/** @return the bodies received on every subscription, in arrival order */
	List<String> allBodies() {
		return this.received.stream().map(Received::body).toList();
	}

	/** @return ERROR frames and transport failures, which no test expects */
	List<String> errors() {
		return List.copyOf(this.errors);
	}

	@Override
	public void close() {
		if (this.session.isConnected()) {
			this.session.disconnect();
		}
		this.scheduler.shutdown();
	}

	private record Received(String destination, String body) {
	}

}
