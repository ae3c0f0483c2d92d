package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHeaderAccessor;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Authentication of a STOMP session on its CONNECT frame: no header means anonymous, a valid
 * Bearer token sets the user (and is removed from the frame), anything else is refused.
 */
class TokenAuthenticationInterceptorTest {

	private final MessageChannel channel = (message, timeout) -> true;

	private final List<Message<?>> outbound = new CopyOnWriteArrayList<>();

	private ThreadPoolTaskScheduler scheduler;

	private SessionExpiry expiry;

	private TokenAuthenticationInterceptor interceptor;

	@BeforeEach
	void setUp() {
		this.scheduler = new ThreadPoolTaskScheduler();
		this.scheduler.setThreadNamePrefix("test-expiry-");
		this.scheduler.initialize();
		MessageChannel clientOutbound = (message, timeout) -> this.outbound.add(message);
		this.expiry = new SessionExpiry("test-node", this.scheduler,
				new ClientErrors(new StaticListableBeanFactory(Map.of("clientOutboundChannel", clientOutbound))
					.getBeanProvider(MessageChannel.class)),
				Duration.ofHours(24), Duration.ZERO);
		this.interceptor = new TokenAuthenticationInterceptor(TokenVerifierTest.verifier(), this.expiry);
	}

	@AfterEach
	void tearDown() {
		this.scheduler.shutdown();
	}

	@Test
	void connectWithoutAuthorizationPassesAnonymous() {
		Message<byte[]> message = frame(StompCommand.CONNECT, Map.of());

		Message<?> result = this.interceptor.preSend(message, this.channel);

		assertThat(result).isSameAs(message);
		assertThat(accessorOf(result).getUser()).isNull();
		assertThat(this.expiry.scheduled()).isZero();
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
		assertThat(this.expiry.scheduled()).as("the session ends when the token expires").isEqualTo(1);
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
		assertThat(this.expiry.scheduled()).isZero();
	}

	@Test
	void anExpiredTokenIsRefusedAsExpiredWithoutUser() {
		Message<byte[]> message = frame(StompCommand.CONNECT,
				Map.of("Authorization", "Bearer " + TestTokens.expired("alice")));

		assertThatThrownBy(() -> this.interceptor.preSend(message, this.channel))
			.isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage("token expired");
		assertThat(accessorOf(message).getUser()).isNull();
		assertThat(this.expiry.scheduled()).isZero();
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
		assertThat(this.expiry.scheduled()).isZero();
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

	private static StompHeaderAccessor accessorOf(Message<?> message) {
		StompHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, StompHeaderAccessor.class);
		assertThat(accessor).isNotNull();
		return accessor;
	}

}
