package com.example.chat;

import java.nio.charset.StandardCharsets;
import java.security.Principal;
import java.util.Map;
import java.util.regex.Pattern;

import org.springframework.http.server.ServerHttpRequest;
import org.springframework.web.socket.WebSocketHandler;
import org.springframework.web.socket.server.support.DefaultHandshakeHandler;
import org.springframework.web.util.UriComponentsBuilder;
import org.springframework.web.util.UriUtils;

/**
 * The chat's own authentication, without Spring Security: the WebSocket session's user is the
 * {@code user} query parameter of the handshake, {@code /chat-ws?user=alice}.
 * <p><b>A toy, fine for a sample only:</b> anyone can claim any name. A real application takes the
 * user from its own login (a session cookie, a verified token) and never from the URL.
 * <p>A missing or unusable name (letters, digits, {@code -} and {@code _}, at most 32) leaves the
 * session anonymous.
 */
class UserFromQueryHandshakeHandler extends DefaultHandshakeHandler {

	private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_-]{1,32}");

	@Override
	protected Principal determineUser(ServerHttpRequest request, WebSocketHandler wsHandler,
			Map<String, Object> attributes) {
		String user = UriComponentsBuilder.fromUri(request.getURI()).build().getQueryParams().getFirst("user");
		if (user == null) {
			return null;
		}
		String name = UriUtils.decode(user, StandardCharsets.UTF_8);
		return NAME.matcher(name).matches() ? new ChatUser(name) : null;
	}

	private record ChatUser(String name) implements Principal {

		@Override
		public String getName() {
			return this.name;
		}

	}

}
