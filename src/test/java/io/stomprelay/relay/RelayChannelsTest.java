package io.stomprelay.relay;

import io.lettuce.core.cluster.SlotHash;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.NullSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

/**
 * Every relay channel name comes from one prefix, so two clusters on one Redis never hear each other.
 */
class RelayChannelsTest {

	private final RelayChannels channels = new RelayChannels("stomp-relay");

	@Test
	void userChannelIsPrefixUserName() {
		assertThat(this.channels.userChannel("alice")).isEqualTo("stomp-relay:user:{alice}");
	}

	@Test
	void destinationChannelIsPrefixDestinationAndTheDestination() {
		assertThat(this.channels.destinationChannel("/topic/chat")).isEqualTo("stomp-relay:destination:{/topic/chat}");
	}

	@Test
	void userAndDestinationChannelsNeverCollide() {
		assertThat(this.channels.userChannel("x")).isNotEqualTo(this.channels.destinationChannel("x"));
	}

	@Test
	void differentPrefixesGiveDifferentChannels() {
		RelayChannels other = new RelayChannels("staging");

		assertThat(other.userChannel("alice")).isEqualTo("staging:user:{alice}")
			.isNotEqualTo(this.channels.userChannel("alice"));
		assertThat(other.destinationChannel("/topic/chat")).isEqualTo("staging:destination:{/topic/chat}")
			.isNotEqualTo(this.channels.destinationChannel("/topic/chat"));
	}

	@ParameterizedTest
	@NullSource
	@ValueSource(strings = { "", " ", "\t\n" })
	void aBlankPrefixIsRejected(String prefix) {
		assertThatIllegalArgumentException().isThrownBy(() -> new RelayChannels(prefix))
			.withMessageContaining("prefix");
	}

	@Test
	void channelForUserKindIsTheUserChannel() {
		assertThat(this.channels.channelFor(MessageKind.USER, "alice", "/user/alice/queue/x"))
			.isEqualTo("stomp-relay:user:{alice}");
	}

	@Test
	void channelForAllKindIsTheDestinationChannel() {
		assertThat(this.channels.channelFor(MessageKind.ALL, null, "/topic/chat"))
			.isEqualTo("stomp-relay:destination:{/topic/chat}");
	}

	@Test
	void channelForAuthenticatedKindSharesTheDestinationChannelWithAll() {
		assertThat(this.channels.channelFor(MessageKind.AUTHENTICATED, null, "/topic/chat"))
			.isEqualTo(this.channels.channelFor(MessageKind.ALL, null, "/topic/chat"))
			.isEqualTo("stomp-relay:destination:{/topic/chat}");
	}

	@Test
	void aUsersPresenceKeyLivesInTheSlotOfTheUsersChannelWhateverTheName() {
		for (String user : new String[] { "alice", "bob", "org/carol", "d}ave", "{eve}", "ü-frank" }) {
			assertThat(SlotHash.getSlot(this.channels.presenceUserKey(user))).as(user)
				.isEqualTo(SlotHash.getSlot(this.channels.userChannel(user)));
		}
		assertThat(SlotHash.getSlot(this.channels.userChannel("alice")))
			.isNotEqualTo(SlotHash.getSlot(this.channels.userChannel("bob")));
	}

	@Test
	void aPrefixWithBracesIsRefusedAsItWouldBreakTheHashTags() {
		assertThatThrownBy(() -> new RelayChannels("tenant-{a}")).isInstanceOf(IllegalArgumentException.class)
			.hasMessageContaining("must not contain");
	}

}
