package io.stomprelay.connection;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.http.server.ServletServerHttpRequest;
import org.springframework.http.server.ServletServerHttpResponse;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;
import org.springframework.web.socket.handler.TextWebSocketHandler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.Mockito.mock;

class SessionDrainTest {

	@Test
	void acceptsHandshakesUntilTheNodeStopsThenAnswers503() throws IOException {
		GenericApplicationContext context = new GenericApplicationContext();
		SessionDrain drain = drain();
		drain.setApplicationContext(context);

		assertThat(handshake(drain).getStatus()).isEqualTo(200);
		drain.onApplicationEvent(new ContextClosedEvent(context));

		assertThat(drain.isDraining()).isTrue();
		assertThat(handshake(drain).getStatus()).isEqualTo(503);
	}

	@Test
	void ignoresTheClosingOfAnotherContext() {
		SessionDrain drain = drain();
		drain.setApplicationContext(new GenericApplicationContext());

		drain.onApplicationEvent(new ContextClosedEvent(new GenericApplicationContext()));

		assertThat(drain.isDraining()).isFalse();
	}

	private static SessionDrain drain() {
		return new SessionDrain(mock(ClientErrors.class), Duration.ofMillis(100), "node-test",
				new LocalSessionRegistry(new SimpleMeterRegistry()));
	}

	private static MockHttpServletResponse handshake(SessionDrain drain) throws IOException {
		MockHttpServletResponse response = new MockHttpServletResponse();
		ServletServerHttpResponse serverResponse = new ServletServerHttpResponse(response);
		boolean accepted = drain.beforeHandshake(new ServletServerHttpRequest(new MockHttpServletRequest()),
				serverResponse, new TextWebSocketHandler(), new HashMap<>());
		serverResponse.flush();
		assertThat(accepted).isEqualTo(response.getStatus() == 200);
		return response;
	}

}
