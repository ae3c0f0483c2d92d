package io.stomprelay.connection;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.SubscribableChannel;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.WebSocketMessage;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.handler.ConcurrentWebSocketSessionDecorator;
import org.springframework.web.socket.messaging.SubProtocolWebSocketHandler;

/**
 * Spring's STOMP-over-WebSocket handler with two changes: a connection that ends with an
 * {@code ERROR} frame is closed only after that frame has been written, and the thread that reads a
 * session's WebSocket messages may handle their frames itself ({@link SessionLanes#readFrames}).
 *
 * <p>Spring writes an {@code ERROR} (a refused frame, a bad token, an absurd destination) and
 * closes the connection with 1002 straight away. When another thread is writing to the same
 * connection at that moment (its {@code CONNECTED}, a message for one of its subscriptions), the
 * {@code ERROR} only waits in the connection's send buffer, and the close throws that buffer away:
 * the client sees a bare 1002 and never learns why. Here such a close waits until every send in
 * progress has returned, which is when the buffer, {@code ERROR} included, has been written.
 * Frames handed over after the close was asked for are not sent.
 */
public class ErrorThenCloseWebSocketHandler extends SubProtocolWebSocketHandler {

	private final SessionLanes lanes;

	/**
	 * @param lanes the client inbound channel's executor
	 */
	public ErrorThenCloseWebSocketHandler(MessageChannel clientInboundChannel, SubscribableChannel clientOutboundChannel,
			SessionLanes lanes) {
		super(clientInboundChannel, clientOutboundChannel);
		this.lanes = lanes;
	}

	@Override
	public void handleMessage(WebSocketSession session, WebSocketMessage<?> message) throws Exception {
		this.lanes.readFrames(session.getId(), () -> super.handleMessage(session, message));
	}

	@Override
	protected WebSocketSession decorateSession(WebSocketSession session) {
		return new ErrorThenCloseSession(session, getSendTimeLimit(), getSendBufferSizeLimit());
	}

	/**
	 * Spring's buffering, limit-checking session, whose protocol-error close waits for the sends in
	 * progress. The sender that leaves last closes; whichever of it and the closing thread looks
	 * second sees the other's mark, so the close is neither lost nor done twice.
	 */
	static final class ErrorThenCloseSession extends ConcurrentWebSocketSessionDecorator {

		private static final Logger logger = LoggerFactory.getLogger(ErrorThenCloseSession.class);

		private final AtomicInteger sending = new AtomicInteger();

		private final AtomicReference<CloseStatus> closeAfterSends = new AtomicReference<>();

		ErrorThenCloseSession(WebSocketSession delegate, int sendTimeLimit, int bufferSizeLimit) {
			super(delegate, sendTimeLimit, bufferSizeLimit);
		}

		@Override
		public void sendMessage(WebSocketMessage<?> message) throws IOException {
			if (this.closeAfterSends.get() != null) {
				return;
			}
			this.sending.incrementAndGet();
			try {
				super.sendMessage(message);
			}
			finally {
				this.sending.decrementAndGet();
				closeIfNoSendInProgress();
			}
		}

		@Override
		public void close(CloseStatus status) throws IOException {
			if (CloseStatus.PROTOCOL_ERROR.equals(status) && this.sending.get() > 0) {
				this.closeAfterSends.compareAndSet(null, status);
				closeIfNoSendInProgress();
				return;
			}
			super.close(status);
		}

		private void closeIfNoSendInProgress() {
			if (this.sending.get() != 0 || this.closeAfterSends.get() == null) {
				return;
			}
			CloseStatus status = this.closeAfterSends.getAndSet(null);
			if (status == null) {
				return;
			}
			try {
				super.close(status);
			}
			catch (IOException ex) {
				logger.debug("Closing session {} after its ERROR frame failed: {}", getId(), ex.toString());
			}
		}

	}

}
