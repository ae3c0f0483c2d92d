package io.stomprelay.connection;

import java.security.Principal;
import java.time.Duration;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.Message;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.simp.user.SimpUserRegistry;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.messaging.DefaultSimpUserRegistry;
import org.springframework.web.socket.messaging.SessionConnectedEvent;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.awaitility.Awaitility.await;

/**
 * Spring's user registry forgets a session whose CONNECTED event came after its disconnect.
 */
class UserRegistryJanitorTest {

	private final ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();

	private final DefaultSimpUserRegistry registry = new DefaultSimpUserRegistry();

	private final Principal alice = () -> "alice";

	@AfterEach
	void stop() {
		this.scheduler.shutdown();
	}

	@Test
	void aConnectedEventThatCameAfterTheDisconnectDoesNotLeaveTheSessionBehind() {
		this.scheduler.initialize();
		UserRegistryJanitor janitor = janitor();
		SessionDisconnectEvent disconnect = new SessionDisconnectEvent(this, message(StompCommand.DISCONNECT), "s1",
				CloseStatus.PROTOCOL_ERROR, this.alice);

		this.registry.onApplicationEvent(disconnect);
		janitor.onApplicationEvent(disconnect);
		this.registry.onApplicationEvent(new SessionConnectedEvent(this, message(StompCommand.CONNECTED), this.alice));
		assertThat(this.registry.getUser("alice")).isNotNull();

		await().atMost(Duration.ofSeconds(3)).until(() -> this.registry.getUser("alice") == null);
		assertThat(this.registry.getUserCount()).isZero();
	}

	@Test
	void aSessionThatReallyEndedIsLeftAsItIs() {
		this.scheduler.initialize();
		UserRegistryJanitor janitor = janitor();
		this.registry.onApplicationEvent(new SessionConnectedEvent(this, message(StompCommand.CONNECTED), this.alice));
		Message<byte[]> other = message(StompCommand.CONNECTED, "s2");
		this.registry.onApplicationEvent(new SessionConnectedEvent(this, other, this.alice));
		SessionDisconnectEvent disconnect = new SessionDisconnectEvent(this, message(StompCommand.DISCONNECT), "s1",
				CloseStatus.NORMAL, this.alice);
		this.registry.onApplicationEvent(disconnect);
		janitor.onApplicationEvent(disconnect);

		await().during(Duration.ofMillis(1500)).atMost(Duration.ofSeconds(3))
			.until(() -> this.registry.getUser("alice") != null && this.registry.getUser("alice").getSession("s2") != null
					&& this.registry.getUser("alice").getSession("s1") == null);
	}

	@Test
	void aSessionThatClosesWhileTheNodeStopsIsNotAnError() {
		this.scheduler.initialize();
		this.scheduler.shutdown();
		UserRegistryJanitor janitor = janitor();
		SessionDisconnectEvent disconnect = new SessionDisconnectEvent(this, message(StompCommand.DISCONNECT), "s1",
				CloseStatus.NORMAL, this.alice);

		assertThatCode(() -> janitor.onApplicationEvent(disconnect)).doesNotThrowAnyException();
	}

	/** The janitor of {@link #registry}, rechecking on {@link #scheduler}. */
	private UserRegistryJanitor janitor() {
		StaticListableBeanFactory beans = new StaticListableBeanFactory();
		beans.addBean("userRegistry", this.registry);
		return new UserRegistryJanitor(beans.getBeanProvider(SimpUserRegistry.class), this.scheduler);
	}

	private Message<byte[]> message(StompCommand command) {
		return message(command, "s1");
	}

	private Message<byte[]> message(StompCommand command, String sessionId) {
		StompHeaderAccessor accessor = StompHeaderAccessor.create(command);
		accessor.setSessionId(sessionId);
		accessor.setUser(this.alice);
		return MessageBuilder.createMessage(new byte[0], accessor.getMessageHeaders());
	}

}
