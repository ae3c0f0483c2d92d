package io.stomprelay.relay;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import io.lettuce.core.CommandListenerWriter;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisChannelWriter;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.protocol.CommandExpiryWriter;
import io.lettuce.core.protocol.DefaultEndpoint;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds half-open Redis connections (Redis gone without a FIN or RST: a partition, a frozen host):
 * each connection it watches is PINGed on every {@link #ping} round, and one that answered none of
 * the last three is disconnected at the TCP level, so that Lettuce reconnects it (and re-subscribes
 * what it held). A closed connection is skipped: Lettuce is already reconnecting it.
 * <p>Never blocks: the PING is asynchronous and its answer is handled on the Lettuce I/O thread.
 */
final class PingWatchdog {

	private static final Logger logger = LoggerFactory.getLogger(PingWatchdog.class);

	static final int UNANSWERED_PINGS_BEFORE_RECONNECT = 3;

	private final String nodeId;

	private final BooleanSupplier closing;

	/**
	 * @param nodeId this node, for log lines
	 * @param closing whether the owner is shutting down (no reconnect then)
	 */
	PingWatchdog(String nodeId, BooleanSupplier closing) {
		this.nodeId = nodeId;
		this.closing = closing;
	}

	/**
	 * Sends one PING on an open connection.
	 * @param unanswered the connection's count of PINGs in a row left unanswered
	 * @param ping sends the PING on that connection
	 */
	void ping(StatefulConnection<?, ?> connection, AtomicInteger unanswered, Supplier<CompletableFuture<String>> ping) {
		if (!connection.isOpen()) {
			unanswered.set(0);
			return;
		}
		ping.get().whenComplete((pong, failure) -> {
			if (failure == null) {
				unanswered.set(0);
			}
			else if (unanswered.incrementAndGet() >= UNANSWERED_PINGS_BEFORE_RECONNECT
					&& !this.closing.getAsBoolean()) {
				unanswered.set(0);
				logger.warn("Node {}: Redis answered none of the last {} PINGs; reconnecting", this.nodeId,
						UNANSWERED_PINGS_BEFORE_RECONNECT);
				disconnect(connection);
			}
		});
	}

	/** Closes the TCP connection under a Lettuce connection; Lettuce reconnects by itself. */
	static void disconnect(StatefulConnection<?, ?> connection) {
		if (!(connection instanceof RedisChannelHandler<?, ?> handler)) {
			return;
		}
		RedisChannelWriter writer = handler.getChannelWriter();
		while (writer instanceof CommandExpiryWriter || writer instanceof CommandListenerWriter) {
			writer = (writer instanceof CommandExpiryWriter expiry) ? expiry.getDelegate()
					: ((CommandListenerWriter) writer).getDelegate();
		}
		if (writer instanceof DefaultEndpoint endpoint) {
			endpoint.disconnect();
		}
	}

}
