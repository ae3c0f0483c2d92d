package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.user.SimpUser;
import org.springframework.messaging.simp.user.SimpUserRegistry;
import org.springframework.security.core.GrantedAuthority;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Authentication on the STOMP CONNECT frame over a real WebSocket: what a client with a bad, expired
 * or wrongly signed token is told, that it is disconnected, and that a live session ends when its
 * token expires.
 */
class TokenAuthenticationIT {

	private static RedisTestServer redis;

	private static RelayNode node;

	@BeforeAll
	static void start() {
		redis = RedisTestServer.start();
		node = RelayNode.start("auth-node", redis, "stomp-relay.auth.jwt.session-claims=tenant");
	}

	@AfterAll
	static void stop() {
		node.close();
		redis.close();
	}

	@Test
	void validTokenConnectsAsTheTokensSubject() {
		try (RawStompSocket socket = connect("Authorization:Bearer " + TestTokens.valid("olivia", "user"))) {
			String connected = awaitFrame(socket, "CONNECTED");
			assertThat(RawStompSocket.header(connected, "user-name")).isEqualTo("olivia");
		}
	}

	@Test
	void theSessionsUserIsTheCompactTokenUserWithOnlyTheConfiguredClaims() {
		String token = TestTokens.signed(claims -> claims.subject("pia")
			.expiresAt(Instant.now().plus(Duration.ofMinutes(10)))
			.claim("roles", List.of("user"))
			.claim("tenant", "acme")
			.claim("email", "pia@example.com"));
		try (RawStompSocket socket = connect("Authorization:Bearer " + token)) {
			awaitFrame(socket, "CONNECTED");
			SimpUser user = node.bean(SimpUserRegistry.class).getUser("pia");
			assertThat(user).isNotNull();
			assertThat(user.getPrincipal()).isInstanceOfSatisfying(TokenAuthentication.class, principal -> {
				assertThat(principal.getName()).isEqualTo("pia");
				assertThat(principal.getAuthorities()).extracting(GrantedAuthority::getAuthority).contains("ROLE_user");
				assertThat(principal.getClaims()).isEqualTo(Map.of("tenant", "acme"));
				assertThat(principal.getCredentials()).isNull();
			});
		}
	}

	@Test
	void noAuthorizationHeaderConnectsAnonymously() {
		try (RawStompSocket socket = connect()) {
			String connected = awaitFrame(socket, "CONNECTED");
			assertThat(RawStompSocket.header(connected, "user-name")).isNull();
		}
	}

	@Test
	void aTokenWithoutExpiryStillConnects() {
		try (RawStompSocket socket = connect("Authorization:Bearer " + TestTokens.withoutExpiry("noexp", "user"))) {
			assertThat(RawStompSocket.header(awaitFrame(socket, "CONNECTED"), "user-name")).isEqualTo("noexp");
		}
	}

	@Test
	void garbageTokenGetsInvalidTokenErrorAndClose() {
		assertRejected("Authorization:Bearer not-a-jwt", "invalid token");
	}

	@Test
	void wronglySignedTokenGetsInvalidTokenErrorAndClose() {
		assertRejected("Authorization:Bearer " + TestTokens.wronglySigned("mallory"), "invalid token");
	}

	@Test
	void expiredTokenGetsTokenExpiredErrorAndClose() {
		assertRejected("Authorization:Bearer " + TestTokens.expired("olivia"), "token expired");
	}

	@Test
	void nonBearerAuthorizationGetsMalformedHeaderErrorAndClose() {
		assertRejected("Authorization:Basic b2xpdmlhOnB3", "malformed Authorization header");
	}

	@Test
	void liveSessionIsClosedWithinASecondOfItsTokenExpiring() {
		String token = TestTokens.expiringIn("pat", Duration.ofSeconds(2));
		Instant expiry = Instant.now().plusSeconds(2);
		try (RawStompSocket socket = connect("Authorization:Bearer " + token)) {
			awaitFrame(socket, "CONNECTED");
			String error = awaitFrame(socket, "ERROR", Duration.ofSeconds(5));
			Instant closedAt = Instant.now();
			assertThat(RawStompSocket.header(error, "message")).isEqualTo("token expired");
			assertThat(Duration.between(expiry, closedAt)).isLessThan(Duration.ofSeconds(1));
			await().atMost(Duration.ofSeconds(2)).until(socket::isClosed);
		}
		try (RawStompSocket renewed = connect("Authorization:Bearer " + TestTokens.valid("pat", "user"))) {
			assertThat(RawStompSocket.header(awaitFrame(renewed, "CONNECTED"), "user-name")).isEqualTo("pat");
		}
	}

	@Test
	void aTokenOnTheUpgradeRequestDoesNotAuthenticateTheStompSession() {
		String admin = TestTokens.expiringIn("upgrade-admin", Duration.ofSeconds(3), "admin");
		try (RawStompSocket socket = RawStompSocket.open(node.wsUrl(), Map.of("Authorization", "Bearer " + admin))) {
			socket.sendFrame("CONNECT", "", "accept-version:1.2", "host:localhost");
			String connected = awaitFrame(socket, "CONNECTED");
			assertThat(RawStompSocket.header(connected, "user-name")).isNull();
			socket.sendFrame("SEND", "{\"text\":\"hi\"}", "destination:/app/chat", "content-type:application/json");
			assertThat(RawStompSocket.header(awaitFrame(socket, "ERROR"), "message")).isEqualTo("access denied");
			await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
		}
	}

	@Test
	void aBadTokenOnTheUpgradeRequestNeitherAuthenticatesNorRefusesTheUpgrade() {
		for (String upgradeToken : new String[] { TestTokens.expired("mallory"), "not-a-jwt" }) {
			try (RawStompSocket socket = RawStompSocket.open(node.wsUrl(),
					Map.of("Authorization", "Bearer " + upgradeToken))) {
				socket.sendFrame("CONNECT", "", "accept-version:1.2", "host:localhost",
						"Authorization:Bearer " + TestTokens.valid("quentin", "user"));
				assertThat(RawStompSocket.header(awaitFrame(socket, "CONNECTED"), "user-name")).isEqualTo("quentin");
			}
		}
	}

	@Test
	void withClockSkewATokenJustPastExpConnectsAndEndsWhenItsSkewRunsOut() {
		try (RelayNode skewed = RelayNode.start("auth-skew", redis, "stomp-relay.auth.jwt.clock-skew=5s");
				RawStompSocket socket = RawStompSocket.open(skewed.wsUrl())) {
			Instant end = Instant.now().plusSeconds(3);
			socket.sendFrame("CONNECT", "", "accept-version:1.2", "host:localhost",
					"Authorization:Bearer " + TestTokens.expiredAgo("sam", Duration.ofSeconds(2)));
			assertThat(RawStompSocket.header(awaitFrame(socket, "CONNECTED"), "user-name")).isEqualTo("sam");
			String error = awaitFrame(socket, "ERROR", Duration.ofSeconds(6));
			Instant closedAt = Instant.now();
			assertThat(RawStompSocket.header(error, "message")).isEqualTo("token expired");
			assertThat(Duration.between(end, closedAt).abs()).isLessThan(Duration.ofSeconds(1));
		}
	}

	private static void assertRejected(String authorization, String expectedMessage) {
		try (RawStompSocket socket = connect(authorization)) {
			String error = awaitFrame(socket, "ERROR");
			assertThat(RawStompSocket.header(error, "message")).isEqualTo(expectedMessage);
			assertThat(error).doesNotContain("Exception").doesNotContain(authorization.substring(authorization.indexOf(' ') + 1));
			await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
			assertThat(socket.firstFrame("CONNECTED")).isNull();
		}
	}

	private static RawStompSocket connect(String... headers) {
		String[] all = new String[headers.length + 2];
		all[0] = "accept-version:1.2";
		all[1] = "host:localhost";
		System.arraycopy(headers, 0, all, 2, headers.length);
		return RawStompSocket.open(node.wsUrl()).sendFrame("CONNECT", "", all);
	}

	private static String awaitFrame(RawStompSocket socket, String command) {
		return awaitFrame(socket, command, Duration.ofSeconds(5));
	}

	private static String awaitFrame(RawStompSocket socket, String command, Duration timeout) {
		await().atMost(timeout).pollInterval(Duration.ofMillis(20)).until(() -> socket.firstFrame(command) != null);
		return socket.firstFrame(command);
	}

}
