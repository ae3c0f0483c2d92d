package io.stomprelay.bench;

import io.netty.channel.Channel;
import java.util.concurrent.CompletableFuture;

/** One client connection: a STOMP session, or a socket.io socket, of one user on one node. */
final class Session {

	final int index;
	final String user;
	final String token;
	final String url;
	final CompletableFuture<Void> ready = new CompletableFuture<>();
	volatile Channel channel;

	Session(int index, String user, String token, String url) {
		this.index = index;
		this.user = user;
		this.token = token;
		this.url = url;
	}

}
