package io.stomprelay.relay;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Destinations as drop logs show them: never with a user name.
 */
class DestinationKindsTest {

	@Test
	void aUserDestinationIsLoggedWithoutItsUser() {
		assertThat(DestinationKinds.forLog("/user/alice/queue/events")).isEqualTo("/user/*/queue/events");
		assertThat(DestinationKinds.forLog("/user/org%2Falice/queue/x")).isEqualTo("/user/*/queue/x");
		assertThat(DestinationKinds.forLog("/user/alice")).isEqualTo("/user/*");
	}

	@Test
	void otherDestinationsAreLoggedAsTheyAre() {
		assertThat(DestinationKinds.forLog("/topic/chat")).isEqualTo("/topic/chat");
		assertThat(DestinationKinds.forLog(null)).isNull();
	}

}
