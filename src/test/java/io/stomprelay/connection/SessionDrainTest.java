package io.stomprelay.connection;

import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.session.TokenBucket;
import org.junit.jupiter.api.Test;

import org.springframework.context.event.ContextClosedEvent;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.http.server.ServletServerHttpRequest;
import org.springframework.http.server.ServletServerHttpResponse;
import org.springframework.mock.web.MockHttpServletRequest;
import org.springframework.mock.web.MockHttpServletResponse;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.handler.TextWebSocketHandler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.ArgumentMatchers.anyString;
import static org.mockito.Mockito.doAnswer;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;

class SessionDrainTest {

	private final LocalSessionRegistry sessions = new LocalSessionRegistry(new SimpleMeterRegistry());

	private final ClientErrors clientErrors = mock(ClientErrors.class);

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

	@Test
	void tellsEveryOpenSessionToReconnectAndWaitsOnlyUntilTheyHaveClosed() throws Exception {
		GenericApplicationContext context = new GenericApplicationContext();
		SessionDrain drain = drain(Duration.ofSeconds(30));
		drain.setApplicationContext(context);
		open("s1", "alice");
		open("s2", null);
		open("gone", null);
		this.sessions.closed("gone", CloseStatus.NORMAL);
		// each told session closes a little later, as its client goes
		doAnswer(invocation -> CompletableFuture.runAsync(() -> this.sessions.closed(invocation.getArgument(0),
				CloseStatus.GOING_AWAY), CompletableFuture.delayedExecutor(100, TimeUnit.MILLISECONDS)))
			.when(this.clientErrors).closeWithError(anyString(), anyString());

		long started = System.nanoTime();
		drain.onApplicationEvent(new ContextClosedEvent(context));

		assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
		verify(this.clientErrors).closeWithError("s1", SessionDrain.SHUTTING_DOWN);
		verify(this.clientErrors).closeWithError("s2", SessionDrain.SHUTTING_DOWN);
		verify(this.clientErrors, never()).closeWithError("gone", SessionDrain.SHUTTING_DOWN);
		assertThat(this.sessions.all()).noneMatch(session -> session.isOpen());
	}

	private void open(String id, String user) {
		assertThat(this.sessions.open(id, user, null, new TokenBucket(10, 10), 10)).isNotNull();
	}

	private SessionDrain drain() {
		return drain(Duration.ofMillis(100));
	}

	private SessionDrain drain(Duration timeout) {
		SessionDrain drain = new SessionDrain(this.clientErrors, timeout, "node-test", this.sessions);
		this.sessions.addListener(drain);
		return drain;
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
