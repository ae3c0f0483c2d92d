package io.stomprelay.connection;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.mock.web.MockHttpServletRequest;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The bearer token of an HTTP request counts everywhere but on the WebSocket endpoint, however its
 * path is written.
 */
class HttpBearerTokenResolverTest {

	private final HttpBearerTokenResolver resolver = new HttpBearerTokenResolver();

	@ParameterizedTest
	@ValueSource(strings = { "/ws", "/ws/", "/%77s", "/ws/anything" })
	void theWebSocketEndpointsTokenIsIgnored(String uri) {
		assertThat(this.resolver.resolve(request(uri))).isNull();
	}

	@ParameterizedTest
	@ValueSource(strings = { "/api/messages/all", "/api/loadtest/runs", "/wsx", "/actuator/health", "/" })
	void everyOtherRequestsTokenIsResolved(String uri) {
		assertThat(this.resolver.resolve(request(uri))).isEqualTo("abc.def.ghi");
	}

	private static MockHttpServletRequest request(String uri) {
		MockHttpServletRequest request = new MockHttpServletRequest("GET", uri);
		request.addHeader("Authorization", "Bearer abc.def.ghi");
		return request;
	}

}
