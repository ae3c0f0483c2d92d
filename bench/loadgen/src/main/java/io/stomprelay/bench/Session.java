package io.stomprelay.bench;

import io.netty.channel.Channel;
import java.util.concurrent.CompletableFuture;

/** One client connection: a STOMP session, or a socket.io socket, of one user on one node. */
final class Session {

	final int index;
	final String user;
	final String token;
	/** Which of the generator's node URLs it is connected to (0 = the first, the publishing node). */
	final int node;

	final String url;

	final CompletableFuture<Void> ready = new CompletableFuture<>();
	volatile Channel channel;

	/** SUBSCRIBE frames to send after CONNECTED instead of the default two (storm: with resume-from, receipt). */
	volatile String[] subscribeFrames;

	/** The first RECEIPT frame received (its text), for a SUBSCRIBE sent with a {@code receipt} header. */
	final CompletableFuture<String> receipt = new CompletableFuture<>();

	/** System.nanoTime() when the first RECEIPT arrived, 0 before. */
	volatile long receiptNanos;

	/** The {@code stream-position} header of the last MESSAGE (only with {@link FrameHandler#trackPositions}). */
	volatile String lastPosition;

	/** The first ERROR frame of this connection (text), if any. */
	volatile String error;

	Session(int index, String user, String token, int node, String url) {
		this.index = index;
		this.user = user;
		this.token = token;
		this.node = node;
		this.url = url;
	}

	/** The same user, token and node on a new connection, for a reconnect. */
	Session reconnect() {
		return new Session(this.index, this.user, this.token, this.node, this.url);
	}

}
