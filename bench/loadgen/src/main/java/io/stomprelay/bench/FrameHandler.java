package io.stomprelay.bench;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import java.time.Instant;
import java.util.function.Supplier;

/**
 * Speaks STOMP 1.2 or socket.io v5 on one connection: authenticates with the JWT, subscribes
 * ({@code /user/queue/bench} and {@code /topic/bench}, or the rooms the socket.io server joins
 * it to), answers engine.io pings, and hands every delivery to the current {@link RunState}.
 */
final class FrameHandler extends SimpleChannelInboundHandler<WebSocketFrame> {

	private final Session session;
	private final Protocol protocol;
	private final Supplier<RunState> current;
	private final boolean subscribe;

	FrameHandler(Session session, Protocol protocol, Supplier<RunState> current, boolean subscribe) {
		this.session = session;
		this.protocol = protocol;
		this.current = current;
		this.subscribe = subscribe;
	}

	/** Wall-clock time in epoch microseconds (same clock the publishers embed). */
	static long epochMicros() {
		Instant now = Instant.now();
		return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
	}

	@Override
	public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
		if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
			if (this.protocol == Protocol.STOMP) {
				send(ctx, "CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:0,0\nAuthorization:Bearer "
						+ this.session.token + "\n\n\0");
			}
			// socket.io: wait for the engine.io OPEN packet first
		}
		else if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
			this.session.ready.completeExceptionally(new IllegalStateException("handshake timeout"));
		}
		super.userEventTriggered(ctx, evt);
	}

	@Override
	protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
		if (frame instanceof CloseWebSocketFrame close) {
			this.session.ready.completeExceptionally(new IllegalStateException("closed: " + close.reasonText()));
			return;
		}
		if (!(frame instanceof TextWebSocketFrame text)) {
			return;
		}
		String s = text.text();
		if (this.protocol == Protocol.STOMP) {
			onStomp(ctx, s);
		}
		else {
			onSocketIo(ctx, s);
		}
	}

	private void onStomp(ChannelHandlerContext ctx, String s) {
		if (s.startsWith("MESSAGE")) {
			int body = s.indexOf("\n\n");
			if (trackPositions) {
				String position = header(s, "stream-position", body < 0 ? s.length() : body);
				if (position != null) {
					this.session.lastPosition = position;
					positioned.increment();
					if (header(s, "stream-gap", body < 0 ? s.length() : body) != null) {
						gaps.increment();
					}
				}
			}
			deliver(s, body < 0 ? 0 : body);
		}
		else if (s.startsWith("CONNECTED")) {
			if (this.subscribe) {
				String[] frames = this.session.subscribeFrames;
				if (frames != null) {
					for (String f : frames) {
						send(ctx, f);
					}
				}
				else {
					send(ctx, "SUBSCRIBE\nid:0\ndestination:/user/queue/bench\n\n\0");
					send(ctx, "SUBSCRIBE\nid:1\ndestination:/topic/bench\n\n\0");
				}
			}
			this.session.ready.complete(null);
		}
		else if (s.startsWith("RECEIPT")) {
			if (this.session.receiptNanos == 0) {
				this.session.receiptNanos = System.nanoTime();
			}
			this.session.receipt.complete(s.replace("\0", ""));
		}
		else if (s.startsWith("ERROR")) {
			if (this.session.error == null) {
				this.session.error = s.replace('\0', ' ');
			}
			this.session.ready.completeExceptionally(new IllegalStateException("STOMP " + s.replace('\0', ' ')));
			this.session.receipt.completeExceptionally(new IllegalStateException("STOMP " + s.replace('\0', ' ')));
		}
	}

	/** Record each MESSAGE's {@code stream-position} header in its session (history runs only). */
	static volatile boolean trackPositions;

	/** MESSAGE frames seen with a {@code stream-position} header (while {@link #trackPositions}). */
	static final java.util.concurrent.atomic.LongAdder positioned = new java.util.concurrent.atomic.LongAdder();

	/** Of those, the ones with a {@code stream-gap} header (the server lost messages before it). */
	static final java.util.concurrent.atomic.LongAdder gaps = new java.util.concurrent.atomic.LongAdder();

	/** The value of header {@code name} in the frame's header block (before {@code end}), or null. */
	static String header(String frame, String name, int end) {
		String key = "\n" + name + ":";
		int i = frame.indexOf(key);
		if (i < 0 || i >= end) {
			return null;
		}
		int from = i + key.length();
		int to = frame.indexOf('\n', from);
		return frame.substring(from, (to < 0 || to > end) ? end : to);
	}

	private void onSocketIo(ChannelHandlerContext ctx, String s) {
		if (s.startsWith("42")) {
			deliver(s, 0);
		}
		else if (s.equals("2")) {
			send(ctx, "3");
		}
		else if (s.startsWith("0")) {
			send(ctx, "40{\"token\":\"" + this.session.token + "\"}");
		}
		else if (s.startsWith("40")) {
			this.session.ready.complete(null);
		}
		else if (s.startsWith("44")) {
			this.session.ready.completeExceptionally(new IllegalStateException("socket.io " + s));
		}
	}

	/** System.nanoTime() of the last delivery of any run (or of none), for quiescing between runs. */
	static volatile long lastDeliveryNanos;

	private void deliver(String s, int from) {
		long recv = epochMicros();
		lastDeliveryNanos = System.nanoTime();
		RunState run = this.current.get();
		if (run == null) {
			return;
		}
		long runId = numberAfter(s, "run", from);
		long seq = numberAfter(s, "seq", from);
		long sent = numberAfter(s, "sent", from);
		run.onDelivery(this.session.index, this.session.node, runId, seq, sent, recv);
	}

	/** The first unsigned integer after {@code key} (skipping quotes, colons, escapes), or -1. */
	static long numberAfter(String s, String key, int from) {
		int i = s.indexOf(key, from);
		if (i < 0) {
			return -1;
		}
		i += key.length();
		int n = s.length();
		while (i < n && (s.charAt(i) < '0' || s.charAt(i) > '9')) {
			i++;
		}
		if (i == n) {
			return -1;
		}
		long v = 0;
		while (i < n && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
			v = v * 10 + (s.charAt(i) - '0');
			i++;
		}
		return v;
	}

	private static void send(ChannelHandlerContext ctx, String text) {
		ctx.writeAndFlush(new TextWebSocketFrame(text));
	}

	@Override
	public void channelInactive(ChannelHandlerContext ctx) throws Exception {
		this.session.ready.completeExceptionally(new IllegalStateException("connection closed"));
		this.session.receipt.completeExceptionally(new IllegalStateException("connection closed"));
		super.channelInactive(ctx);
	}

	@Override
	public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
		this.session.ready.completeExceptionally(cause);
		ctx.close();
	}

}
