package io.stomprelay.relay;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.connection.SessionLanes;
import io.stomprelay.connection.ClientErrors;
import io.stomprelay.session.ConnectAdmission;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.session.TokenBucket;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.support.ExecutorSubscribableChannel;
import org.springframework.messaging.support.MessageBuilder;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The relay's side of a session, written through the {@link LocalSessionRegistry}: what the
 * broker subscribes a session to is recorded on the session, the channels it needs are held until
 * it unsubscribes or ends, and its last frame ends it.
 */
class SessionInterestTest {

	private final ChannelInterestTest.RecordingBus bus = new ChannelInterestTest.RecordingBus();

	private final RelayChannels channels = new RelayChannels("test");

	private final MeterRegistry meters = new SimpleMeterRegistry();

	private final LocalSessionRegistry sessions = new LocalSessionRegistry(this.meters);

	private final MessageChannel outbound = (message, timeout) -> true;

	private final SessionInterest interest = new SessionInterest(this.channels, new ChannelInterest(this.bus),
			this.bus, Duration.ofSeconds(1),
			new StaticListableBeanFactory(Map.of("clientOutboundChannel", this.outbound))
				.getBeanProvider(MessageChannel.class),
			new SessionLanes(Runnable::run), this.meters, "node-test", new RelayMetrics(this.meters, "node-test"), 100,
			this.sessions, ConnectAdmission.LOCAL, new ClientErrors(new StaticListableBeanFactory(
					Map.of("clientOutboundChannel", this.outbound)).getBeanProvider(MessageChannel.class)), null);

	private final SimpleBrokerMessageHandler broker = new SimpleBrokerMessageHandler(
			new ExecutorSubscribableChannel(), new ExecutorSubscribableChannel(), new ExecutorSubscribableChannel(),
			List.of("/topic", "/queue"));

	@Test
	void aSessionsFramesAreRecordedOnItAndItsLastFrameEndsItAndReleasesItsChannels() {
		LocalSession session = open("s1", "alice");

		frame(SimpMessageType.CONNECT, "s1", null, null);
		frame(SimpMessageType.SUBSCRIBE, "s1", "1", "/topic/a");
		frame(SimpMessageType.SUBSCRIBE, "s1", "2", "/user/queue/events");
		frame(SimpMessageType.SUBSCRIBE, "s1", "3", "/topic/b");
		frame(SimpMessageType.UNSUBSCRIBE, "s1", "3", null);

		assertThat(session.isConnected()).isTrue();
		assertThat(session.subscriptions()).containsExactly(Map.entry("1", "/topic/a"),
				Map.entry("2", "/user/queue/events"));
		assertThat(this.bus.events).containsExactly("subscribe test:user:{alice}", "subscribe test:destination:{/topic/a}",
				"subscribe test:destination:{/topic/b}", "unsubscribe test:destination:{/topic/b}");
		assertThat(this.interest.isLocal("s1")).isTrue();
		assertThat(this.interest.userOf("s1")).isEqualTo("alice");
		assertThat(this.interest.isAuthenticated("s1")).isTrue();

		frame(SimpMessageType.DISCONNECT, "s1", null, null);
		frame(SimpMessageType.SUBSCRIBE, "s1", "4", "/topic/late");

		assertThat(this.sessions.get("s1")).isNull();
		assertThat(this.interest.isLocal("s1")).isFalse();
		assertThat(this.bus.events).containsExactlyInAnyOrder("subscribe test:user:{alice}",
				"subscribe test:destination:{/topic/a}", "subscribe test:destination:{/topic/b}",
				"unsubscribe test:destination:{/topic/b}", "unsubscribe test:destination:{/topic/a}",
				"unsubscribe test:user:{alice}");
	}

	@Test
	void aSessionWhoseConnectTheBrokerNeverTookReleasesNoUserChannel() {
		open("s1", "alice");
		open("s2", "alice");
		frame(SimpMessageType.CONNECT, "s1", null, null);

		frame(SimpMessageType.DISCONNECT, "s2", null, null);

		assertThat(this.bus.events).containsExactly("subscribe test:user:{alice}");
		assertThat(this.sessions.sessionsOf("alice")).extracting(LocalSession::id).containsExactly("s1");
	}

	@Test
	void framesOfASessionThatWasNeverOpenedChangeNothing() {
		frame(SimpMessageType.CONNECT, "s1", null, null);
		frame(SimpMessageType.SUBSCRIBE, "s1", "1", "/topic/a");
		frame(SimpMessageType.DISCONNECT, "s1", null, null);

		assertThat(this.bus.events).isEmpty();
		assertThat(this.interest.isAuthenticated("s1")).isFalse();
	}

	private LocalSession open(String id, String user) {
		return this.sessions.open(id, user, null, new TokenBucket(10, 10), 10);
	}

	private void frame(SimpMessageType type, String sessionId, String subscriptionId, String destination) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(type);
		accessor.setSessionId(sessionId);
		accessor.setSubscriptionId(subscriptionId);
		accessor.setDestination(destination);
		Message<byte[]> message = MessageBuilder.createMessage(new byte[0], accessor.getMessageHeaders());
		this.interest.beforeHandle(message, this.outbound, this.broker);
	}

}
