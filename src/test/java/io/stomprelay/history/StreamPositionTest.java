package io.stomprelay.history;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class StreamPositionTest {

	@Test
	void formatsAndParsesBack() {
		StreamPosition position = new StreamPosition("1796335617588861", 42);
		assertThat(position.format()).isEqualTo("1796335617588861-42");
		assertThat(StreamPosition.parse(position.format())).isEqualTo(position);
	}

	@Test
	void anythingElseIsNoPosition() {
		for (String text : new String[] { null, "", "garbage", "-5", "17-", "17-0", "17--5", "ab-5", "17-5x", "17:5",
				"17-99999999999999999999", "1".repeat(40) + "-1" }) {
			assertThat(StreamPosition.parse(text)).as(String.valueOf(text)).isNull();
		}
	}

	@Test
	void epochsTellLivesApart() {
		assertThat(new StreamPosition("1", 5).sameEpoch(new StreamPosition("1", 9))).isTrue();
		assertThat(new StreamPosition("1", 5).sameEpoch(new StreamPosition("2", 5))).isFalse();
	}

}
