package io.stomprelay.connection;

import java.net.InetSocketAddress;
import java.security.Principal;
import java.util.Collections;
import java.util.List;

import io.stomprelay.connection.StompEndpointConfiguration.SessionUpgradeStrategy;
import jakarta.servlet.http.HttpServletRequest;
import org.junit.jupiter.api.Test;

import org.springframework.http.server.ServerHttpRequest;
import org.springframework.http.server.ServletServerHttpRequest;
import org.springframework.mock.web.MockHttpServletRequest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the container and Spring's WebSocket session get to keep of the upgrade request: no user,
 * and only the configured headers, while the upgrade can still read the ones it needs.
 */
class SessionUpgradeStrategyTest {

	@Test
	void theSessionKeepsOnlyTheConfiguredHeadersAndNoUser() {
		ServerHttpRequest view = new SessionUpgradeStrategy(List.of("Origin", "x-forwarded-for")).sessionView(upgrade());

		assertThat(view.getHeaders().headerNames()).containsExactlyInAnyOrder("Origin", "X-Forwarded-For");
		HttpServletRequest servlet = ((ServletServerHttpRequest) view).getServletRequest();
		assertThat(Collections.list(servlet.getHeaderNames())).containsExactlyInAnyOrder("Origin", "X-Forwarded-For");
		// the container's upgrade reads these by name
		assertThat(servlet.getHeader("Sec-WebSocket-Key")).isEqualTo("dGhlIHNhbXBsZSBub25jZQ==");
		assertThat(Collections.list(servlet.getHeaders("Sec-WebSocket-Protocol"))).containsExactly("v12.stomp");
		assertThat(servlet.getUserPrincipal()).isNull();
		assertThat(servlet.getRemoteUser()).isNull();
	}

	@Test
	void byDefaultTheSessionKeepsNoHeaders() {
		ServerHttpRequest view = new SessionUpgradeStrategy(List.of()).sessionView(upgrade());

		assertThat(view.getHeaders().isEmpty()).isTrue();
		assertThat(((ServletServerHttpRequest) view).getServletRequest().getHeader("Upgrade")).isEqualTo("websocket");
	}

	@Test
	void everySessionGetsTheSameLocalAddressInstanceAndItsOwnRemoteOne() {
		SessionUpgradeStrategy strategy = new SessionUpgradeStrategy(List.of());
		ServerHttpRequest first = strategy.sessionView(upgrade());
		MockHttpServletRequest other = new MockHttpServletRequest("GET", "/ws");
		other.setRemoteAddr("198.51.100.9");
		ServerHttpRequest second = strategy.sessionView(new ServletServerHttpRequest(other));

		assertThat(first.getLocalAddress()).isEqualTo(new InetSocketAddress("127.0.0.1", 80))
			.isSameAs(second.getLocalAddress());
		assertThat(second.getRemoteAddress().getAddress().getHostAddress()).isEqualTo("198.51.100.9");
		assertThat(first.getRemoteAddress().getAddress().getHostAddress()).isEqualTo("127.0.0.1");
	}

	@Test
	void aNodeOnManyAddressesStillGetsEachRight() {
		SessionUpgradeStrategy strategy = new SessionUpgradeStrategy(List.of());
		for (int port = 1; port <= SessionUpgradeStrategy.SHARED_LOCAL_ADDRESSES + 4; port++) {
			MockHttpServletRequest request = new MockHttpServletRequest("GET", "/ws");
			request.setLocalPort(port);
			assertThat(strategy.sessionView(new ServletServerHttpRequest(request)).getLocalAddress().getPort())
				.isEqualTo(port);
		}
	}

	private static ServletServerHttpRequest upgrade() {
		MockHttpServletRequest request = new MockHttpServletRequest("GET", "/ws");
		request.addHeader("Upgrade", "websocket");
		request.addHeader("Connection", "Upgrade");
		request.addHeader("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
		request.addHeader("Sec-WebSocket-Version", "13");
		request.addHeader("Sec-WebSocket-Protocol", "v12.stomp");
		request.addHeader("Origin", "https://app.example");
		request.addHeader("X-Forwarded-For", "203.0.113.7");
		request.addHeader("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0");
		request.addHeader("Cookie", "session=" + "a".repeat(200));
		Principal user = () -> "mallory";
		request.setUserPrincipal(user);
		return new ServletServerHttpRequest(request);
	}

}
