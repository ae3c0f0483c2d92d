package io.stomprelay.connection;

import jakarta.servlet.http.HttpServletRequest;

import org.springframework.security.oauth2.server.resource.web.BearerTokenResolver;
import org.springframework.security.oauth2.server.resource.web.DefaultBearerTokenResolver;
import org.springframework.web.util.UrlPathHelper;

/**
 * Finds the bearer token of an HTTP request (the {@code Authorization} header), except on the
 * WebSocket endpoint {@code /ws}: a STOMP session is authenticated only by the token in its CONNECT
 * frame ({@link TokenAuthenticationInterceptor}), which is verified and whose expiry ends the
 * session. A token on the upgrade request is ignored, so a bad or expired one neither authenticates
 * the connection nor refuses the upgrade.
 */
public final class HttpBearerTokenResolver implements BearerTokenResolver {

	private final BearerTokenResolver delegate = new DefaultBearerTokenResolver();

	@Override
	public String resolve(HttpServletRequest request) {
		return isWebSocketEndpoint(request) ? null : this.delegate.resolve(request);
	}

	private static boolean isWebSocketEndpoint(HttpServletRequest request) {
		String path = UrlPathHelper.defaultInstance.getPathWithinApplication(request);
		return path.equals(StompEndpointConfiguration.ENDPOINT) || path.startsWith(StompEndpointConfiguration.ENDPOINT + "/");
	}

}
