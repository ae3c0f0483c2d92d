package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;

import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHeaderAccessor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Authentication of a STOMP session on its CONNECT frame: no header means anonymous, a valid
 * Bearer token sets the user (and is removed from the frame), anything else is refused.
 */
class TokenAuthenticationInterceptorTest {

	private final MessageChannel channel = (message, timeout) -> true;

	private final TokenAuthenticationInterceptor interceptor = new TokenAuthenticationInterceptor(
			TokenVerifierTest.verifier());

	@Test
	void connectWithoutAuthorizationPassesAnonymous() {
		Message<byte[]> message = frame(StompCommand.CONNECT, Map.of());

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(result).isSameAs(message);
		assertThat(accessorOf(result).getUser()).isNull();
		assertThat(tokenExpiresAt(result)).isNull();
	}

	@Test
	void clientSentIdentityHeadersDoNotSetTheUser() {
		Message<byte[]> message = frame(StompCommand.CONNECT, Map.of("login", "admin", "passcode", "x", "user", "admin"));

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(accessorOf(result).getUser()).isNull();
	}

	@Test
	void connectWithAValidBearerTokenSetsTheUserAndRemovesTheHeader() {
		String token = TestTokens.valid("alice", "user");
		Message<byte[]> message = frame(StompCommand.CONNECT, Map.of("Authorization", "Bearer " + token));

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(result).isSameAs(message);
		StompHeaderAccessor accessor = accessorOf(result);
		assertThat(accessor.getUser()).isNotNull();
		assertThat(accessor.getUser().getName()).isEqualTo("alice");
		assertThat(accessor.getNativeHeader("Authorization")).isNull();
		assertThat(accessor.toNativeHeaderMap().toString()).doesNotContain(token);
		assertThat(tokenExpiresAt(result)).as("the session ends when the token expires (SessionExpiry)")
			.isBetween(Instant.now().plus(Duration.ofMinutes(9)), Instant.now().plus(Duration.ofMinutes(10)));
	}

	@Test
	void aStompFrameIsAuthenticatedLikeConnect() {
		Message<byte[]> message = frame(StompCommand.STOMP,
				Map.of("Authorization", "Bearer " + TestTokens.valid("alice", "user")));

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(accessorOf(result).getUser().getName()).isEqualTo("alice");
	}

	@Test
	void aLowerCaseAuthorizationHeaderAlsoWorks() {
		Message<byte[]> message = frame(StompCommand.CONNECT,
				Map.of("authorization", "Bearer " + TestTokens.valid("bob", "user")));

		Message<?> result = this.interceptor.preSend(message, this.channel);

		StompHeaderAccessor accessor = accessorOf(result);
		assertThat(accessor.getUser().getName()).isEqualTo("bob");
		assertThat(accessor.getNativeHeader("authorization")).isNull();
	}

	@Test
	void theBearerSchemeIsCaseInsensitive() {
		Message<byte[]> message = frame(StompCommand.CONNECT,
				Map.of("Authorization", "bearer " + TestTokens.valid("bob", "user")));

		assertThat(accessorOf(this.interceptor.preSend(message, this.channel)).getUser().getName()).isEqualTo("bob");
	}

	@ParameterizedTest
	@ValueSource(strings = { "Basic xyz", "Bearer ", "Bearer", "Bearerabc", "Token abc", "" })
	void aNonBearerOrEmptyAuthorizationHeaderIsRefusedAsMalformed(String header) {
		Message<byte[]> message = frame(StompCommand.CONNECT, Map.of("Authorization", header));

		assertThatThrownBy(() -> this.interceptor.preSend(message, this.channel))
			.isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage("malformed Authorization header");
		assertThat(accessorOf(message).getUser()).isNull();
		assertThat(tokenExpiresAt(message)).isNull();
	}

	@Test
	void anExpiredTokenIsRefusedAsExpiredWithoutUser() {
		Message<byte[]> message = frame(StompCommand.CONNECT,
				Map.of("Authorization", "Bearer " + TestTokens.expired("alice")));

		assertThatThrownBy(() -> this.interceptor.preSend(message, this.channel))
			.isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage("token expired");
		assertThat(accessorOf(message).getUser()).isNull();
		assertThat(tokenExpiresAt(message)).isNull();
	}

	@Test
	void aWronglySignedTokenIsRefusedAsInvalid() {
		Message<byte[]> message = frame(StompCommand.CONNECT,
				Map.of("Authorization", "Bearer " + TestTokens.wronglySigned("alice")));

		assertThatThrownBy(() -> this.interceptor.preSend(message, this.channel))
			.isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage("invalid token");
		assertThat(accessorOf(message).getUser()).isNull();
	}

	@ParameterizedTest
	@ValueSource(strings = { "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "DISCONNECT", "ACK" })
	void framesOtherThanConnectPassUntouched(StompCommand command) {
		Message<byte[]> message = frame(command, Map.of("Authorization", "Basic not-even-bearer"));

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(result).isSameAs(message);
		StompHeaderAccessor accessor = accessorOf(result);
		assertThat(accessor.getUser()).isNull();
		assertThat(accessor.getFirstNativeHeader("Authorization")).isEqualTo("Basic not-even-bearer");
		assertThat(tokenExpiresAt(result)).isNull();
	}

	@Test
	void aMessageWithoutStompHeadersPassesUntouched() {
		Message<String> message = MessageBuilder.withPayload("x").build();

		assertThat(this.interceptor.preSend(message, this.channel)).isSameAs(message);
	}

	private static Message<byte[]> frame(StompCommand command, Map<String, String> nativeHeaders) {
		StompHeaderAccessor accessor = StompHeaderAccessor.create(command);
		nativeHeaders.forEach(accessor::setNativeHeader);
		accessor.setSessionId("s1");
		accessor.setLeaveMutable(true);
		return MessageBuilder.createMessage(new byte[0], accessor.getMessageHeaders());
	}

	private static Instant tokenExpiresAt(Message<?> message) {
		return message.getHeaders().get(TokenAuthenticationInterceptor.TOKEN_EXPIRES_AT, Instant.class);
	}

	private static StompHeaderAccessor accessorOf(Message<?> message) {
		StompHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, StompHeaderAccessor.class);
		assertThat(accessor).isNotNull();
		return accessor;
	}

}
