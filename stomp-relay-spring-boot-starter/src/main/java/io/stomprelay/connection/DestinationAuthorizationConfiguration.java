package io.stomprelay.connection;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import java.util.List;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.system.StompRelayProperties;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.core.annotation.Order;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;
import org.springframework.messaging.Message;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.security.authorization.AuthorizationManager;
import org.springframework.security.config.annotation.web.socket.EnableWebSocketSecurity;
import org.springframework.security.messaging.access.intercept.MessageMatcherDelegatingAuthorizationManager;
import org.springframework.security.messaging.util.matcher.MessageMatcher;

/**
 * Who may send or subscribe where, with Spring Security's message authorization; on with
 * {@code stomp-relay.rules.enabled=true} (and spring-security-messaging on the classpath). Everything not
 * listed is denied and answered with an {@code ERROR} ("access denied") and a close:
 * <ul>
 * <li>CONNECT, heart-beats, UNSUBSCRIBE and DISCONNECT: everyone;</li>
 * <li>SEND: only to {@code /app/**}; those listed in {@code stomp-relay.rules.authenticated-destinations}
 * (the server: {@code /app/chat}, {@code /app/direct}, {@code /app/announce}) need an authenticated
 * session. Never to {@code /topic}, {@code /queue} or {@code /user};</li>
 * <li>SUBSCRIBE: {@code /topic/**} and {@code /user/queue/**} only. Never another user's
 * {@code /user/{name}/...}, a session-suffixed {@code /queue/...-user...}, or a pattern
 * ({@code *}, <code>{</code>), which would escape the relay's per-destination channels.</li>
 * </ul>
 * Runs after {@link TokenAuthenticationInterceptor}, which sets the session user on CONNECT, and after
 * {@link DestinationSyntaxInterceptor}, which has already refused ("invalid destination") every SEND
 * and SUBSCRIBE whose destination breaks {@link DestinationSyntax}: empty segments, {@code ..},
 * {@code %}, {@code ;}, {@code ?}, wildcards, other characters, more than 256 characters. The rules
 * below therefore match plain destinations only, the way the message handlers and the broker read
 * them (without it, {@code /app//chat} would pass as an unlisted {@code /app/**} destination and
 * reach the chat handler). The pattern rule stays as a second line.
 */
@AutoConfiguration(after = JwtVerifierConfiguration.class)
@ConditionalOnClass(MessageMatcherDelegatingAuthorizationManager.class)
@ConditionalOnProperty(name = "stomp-relay.rules.enabled", havingValue = "true")
@EnableWebSocketSecurity
class DestinationAuthorizationConfiguration {

	/** Refuses malformed destinations before Spring Security's authorization sees them. */
	@Bean
	@Order(InboundOrder.DESTINATIONS)
	static WebSocketMessageBrokerConfigurer destinationSyntaxConfigurer(DestinationSyntaxInterceptor destinations) {
		return new WebSocketMessageBrokerConfigurer() {
			@Override
			public void configureClientInboundChannel(ChannelRegistration registration) {
				registration.interceptors(destinations);
			}
		};
	}

	@Bean
	static DestinationSyntaxInterceptor destinationSyntaxInterceptor(MeterRegistry registry) {
		return new DestinationSyntaxInterceptor(SessionLimits.rejections(registry, "destination"));
	}

	/** Destinations with these characters are patterns, not destinations. */
	private static final MessageMatcher<Object> PATTERN_DESTINATION = message -> {
		String destination = SimpMessageHeaderAccessor.getDestination(message.getHeaders());
		return destination != null && (destination.contains("*") || destination.contains("{") || destination.contains(".."));
	};

	@Bean
	AuthorizationManager<Message<?>> messageAuthorizationManager(
			MessageMatcherDelegatingAuthorizationManager.Builder messages, StompRelayProperties properties) {
		List<String> authenticated = properties.rules().authenticatedDestinations();
		messages.simpTypeMatchers(SimpMessageType.CONNECT, SimpMessageType.HEARTBEAT, SimpMessageType.UNSUBSCRIBE,
					SimpMessageType.DISCONNECT)
			.permitAll()
			.matchers(PATTERN_DESTINATION).denyAll();
		if (!authenticated.isEmpty()) {
			messages.simpMessageDestMatchers(authenticated.toArray(String[]::new)).authenticated();
		}
		return messages.simpMessageDestMatchers("/app/**").permitAll()
			.simpSubscribeDestMatchers("/topic/**", "/user/queue/**").permitAll()
			.anyMessage().denyAll()
			.build();
	}

	/**
	 * Deliberately replaces Spring Security's CSRF check on CONNECT (looked up by this bean name).
	 * That check protects cookie-authenticated sessions from cross-site WebSocket hijacking; our
	 * sessions authenticate with a bearer token in the CONNECT frame, which a foreign page cannot
	 * read or send, and the handshake is limited to {@code stomp-relay.allowed-origins}. A test pins
	 * that this replacement stays in effect.
	 */
	@Bean
	ChannelInterceptor csrfChannelInterceptor() {
		return new BearerTokenSessionsNeedNoCsrf();
	}

	/** A no-op in place of the CSRF channel interceptor; see {@link #csrfChannelInterceptor()}. */
	static final class BearerTokenSessionsNeedNoCsrf implements ChannelInterceptor {

	}

}
