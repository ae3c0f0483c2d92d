package io.stomprelay.connection;

import java.nio.charset.StandardCharsets;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageDeliveryException;
import org.springframework.messaging.converter.MessageConversionException;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompConversionException;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.security.access.AccessDeniedException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ERROR frames a client gets: a short fixed sentence per known failure, "internal error" with a
 * reference for anything else, never an exception text or a stack trace.
 */
class SafeStompErrorHandlerTest {

	private final Counter oversizeFrames = Counter.builder("test.oversize").register(new SimpleMeterRegistry());

	private final Counter deniedFrames = Counter.builder("test.denied").register(new SimpleMeterRegistry());

	private final SafeStompErrorHandler handler = new SafeStompErrorHandler("test-node", this.oversizeFrames,
			this.deniedFrames);

	@Test
	void aClientRejectionIsReportedWithItsOwnMessage() {
		assertThat(errorMessage(new ClientRejectedException("token expired"))).isEqualTo("token expired");
	}

	@Test
	void aWrappedClientRejectionIsReportedWithItsOwnMessage() {
		assertThat(errorMessage(new MessageDeliveryException(clientFrame(null), "failed",
				new ClientRejectedException("invalid token")))).isEqualTo("invalid token");
	}

	@Test
	void accessDeniedIsReportedAsAccessDeniedAndCounted() {
		assertThat(errorMessage(new AccessDeniedException("Access Denied for /topic/admin"))).isEqualTo("access denied");
		assertThat(this.deniedFrames.count()).isEqualTo(1);
		assertThat(this.oversizeFrames.count()).isZero();
	}

	@Test
	void accessDeniedWrappedInADeliveryFailureIsReportedAsAccessDenied() {
		MessageDeliveryException wrapped = new MessageDeliveryException(clientFrame(null),
				"Failed to send message to ExecutorSubscribableChannel[clientInboundChannel]",
				new AccessDeniedException("Access Denied"));

		assertThat(errorMessage(wrapped)).isEqualTo("access denied");
	}

	@Test
	void aMessageConversionFailureIsReportedAsMalformedMessage() {
		assertThat(errorMessage(new MessageConversionException("Could not read JSON: Unexpected character ('x')")))
			.isEqualTo("malformed message");
	}

	@Test
	void aStompConversionFailureIsReportedAsMalformedFrame() {
		assertThat(errorMessage(new StompConversionException("Illegal header: 'foo'. A header must be of the form")))
			.isEqualTo("malformed frame");
	}

	@Test
	void aMalformedFrameIsNotCountedAsOversize() {
		errorMessage(new StompConversionException("Illegal header: 'foo'"));

		assertThat(this.oversizeFrames.count()).isZero();
	}

	@Test
	void aFrameOverTheBufferLimitIsReportedAsTooLargeAndCounted() {
		String message = errorMessage(
				new StompConversionException("The configured STOMP buffer size limit of 65536 bytes has been exceeded"));

		assertThat(message).isEqualTo("frame too large");
		assertThat(this.oversizeFrames.count()).isEqualTo(1);
	}

	@Test
	void aContentLengthOverTheBufferLimitIsReportedAsTooLargeAndCounted() {
		String message = errorMessage(new MessageDeliveryException(clientFrame(null), "failed",
				new StompConversionException("Content-length 900000 exceeds configured buffer size limit 65536")));

		assertThat(message).isEqualTo("frame too large");
		assertThat(this.oversizeFrames.count()).isEqualTo(1);
	}

	@Test
	void anUnknownFailureOnAFrameThatCouldNotBeParsedIsReportedAsMalformedFrame() {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(null,
				new IllegalStateException("secret parser state"));

		StompHeaderAccessor accessor = StompHeaderAccessor.wrap(error);
		assertThat(accessor.getCommand()).isEqualTo(StompCommand.ERROR);
		assertThat(accessor.getMessage()).isEqualTo("malformed frame");
		assertThat(error.getPayload()).isEmpty();
	}

	@Test
	void anUnknownFailureIsAnInternalErrorWithAReferenceAndNoExceptionText() {
		String message = errorMessage(new RuntimeException("secret token abc.def.ghi"));

		assertThat(message).startsWith("internal error (ref ").matches("internal error \\(ref [0-9a-f]{8}\\)")
			.doesNotContain("secret")
			.doesNotContain("abc.def.ghi")
			.doesNotContain("RuntimeException");
	}

	@Test
	void anUnknownFailureWrappingAnotherUnknownFailureLeaksNeitherText() {
		String message = errorMessage(new IllegalStateException("outer password=hunter2",
				new NullPointerException("inner secret")));

		assertThat(message).startsWith("internal error (ref ").doesNotContain("hunter2").doesNotContain("secret");
	}

	@Test
	void eachInternalErrorGetsItsOwnReference() {
		assertThat(errorMessage(new RuntimeException("a"))).isNotEqualTo(errorMessage(new RuntimeException("a")));
	}

	@Test
	void theErrorFrameCarriesTheReceiptIdOfTheClientFrame() {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(clientFrame("r-7"),
				new AccessDeniedException("no"));

		StompHeaderAccessor accessor = StompHeaderAccessor.wrap(error);
		assertThat(accessor.getCommand()).isEqualTo(StompCommand.ERROR);
		assertThat(accessor.getReceiptId()).isEqualTo("r-7");
		assertThat(accessor.getMessage()).isEqualTo("access denied");
	}

	@Test
	void theErrorFrameHasNoReceiptIdWhenTheClientFrameHadNone() {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(clientFrame(null),
				new AccessDeniedException("no"));

		assertThat(StompHeaderAccessor.wrap(error).getReceiptId()).isNull();
	}

	@Test
	void anErrorWithoutAClientFrameIsStillAnErrorFrame() {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(null,
				new ClientRejectedException("token expired"));

		StompHeaderAccessor accessor = StompHeaderAccessor.wrap(error);
		assertThat(accessor.getCommand()).isEqualTo(StompCommand.ERROR);
		assertThat(accessor.getMessage()).isEqualTo("token expired");
	}

	@Test
	void theErrorFramePayloadCarriesNoStackTraceOrExceptionText() {
		RuntimeException failure = new RuntimeException("secret token abc.def.ghi");

		Message<byte[]> error = this.handler.handleClientMessageProcessingError(clientFrame("r-1"), failure);

		String payload = new String(error.getPayload(), StandardCharsets.UTF_8);
		assertThat(payload).isEmpty();
		assertThat(StompHeaderAccessor.wrap(error).toNativeHeaderMap().toString()).doesNotContain("secret")
			.doesNotContain("at io.stomprelay")
			.doesNotContain("java.lang");
	}

	private String errorMessage(Throwable failure) {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(clientFrame(null), failure);
		StompHeaderAccessor accessor = StompHeaderAccessor.wrap(error);
		assertThat(accessor.getCommand()).isEqualTo(StompCommand.ERROR);
		assertThat(error.getPayload()).isEmpty();
		return accessor.getMessage();
	}

	@Test
	void aFrameSpringRefusedBeforeConnectIsReportedAsNotConnected() {
		assertThat(errorMessage(unroutedFrame(StompCommand.SUBSCRIBE), new IllegalStateException("Unknown session: 1")))
			.isEqualTo("not connected");
		assertThat(errorMessage(unroutedFrame(StompCommand.SEND), new IllegalStateException("Unknown session: 1")))
			.isEqualTo("not connected");
	}

	@Test
	void aSecondConnectSpringRefusedIsReportedAsAlreadyConnected() {
		assertThat(errorMessage(unroutedFrame(StompCommand.CONNECT), new IllegalStateException("Session already exists")))
			.isEqualTo("already connected");
		assertThat(errorMessage(unroutedFrame(StompCommand.STOMP), new IllegalStateException("Session already exists")))
			.isEqualTo("already connected");
	}

	@Test
	void anIllegalStateOnAFrameThatReachedTheChannelIsStillAnInternalError() {
		assertThat(errorMessage(clientFrame(null), new IllegalStateException("something broke")))
			.matches("internal error \\(ref [0-9a-f]{8}\\)");
	}

	@Test
	void anUnexpectedFailureOnAFrameWithoutSessionIsStillAnInternalError() {
		assertThat(errorMessage(unroutedFrame(StompCommand.SEND), new NullPointerException("bug")))
			.matches("internal error \\(ref [0-9a-f]{8}\\)");
	}

	private String errorMessage(Message<byte[]> clientFrame, Throwable ex) {
		Message<byte[]> error = this.handler.handleClientMessageProcessingError(clientFrame, ex);
		StompHeaderAccessor accessor = StompHeaderAccessor.wrap(error);
		assertThat(accessor.getCommand()).isEqualTo(StompCommand.ERROR);
		return accessor.getMessage();
	}

	/** A decoded frame as Spring's STOMP handler has it before it gives it a session id. */
	private static Message<byte[]> unroutedFrame(StompCommand command) {
		StompHeaderAccessor accessor = StompHeaderAccessor.create(command);
		accessor.setLeaveMutable(true);
		return MessageBuilder.createMessage(new byte[0], accessor.getMessageHeaders());
	}

	private static Message<byte[]> clientFrame(String receipt) {
		StompHeaderAccessor accessor = StompHeaderAccessor.create(StompCommand.SEND);
		accessor.setDestination("/app/chat");
		accessor.setSessionId("s1");
		if (receipt != null) {
			accessor.setReceipt(receipt);
		}
		accessor.setLeaveMutable(true);
		return MessageBuilder.createMessage("{\"text\":\"secret\"}".getBytes(StandardCharsets.UTF_8),
				accessor.getMessageHeaders());
	}

}
