package io.stomprelay.connection;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The destination rule shared by STOMP frames and the HTTP push API.
 */
class DestinationSyntaxTest {

	@ParameterizedTest
	@ValueSource(strings = { "/app/chat", "/topic/chat", "/user/queue/events", "/topic/a.b/c-d_e", "/topic/A1",
			"/x" })
	void plainSegmentsAreValid(String destination) {
		assertThat(DestinationSyntax.isValid(destination)).isTrue();
	}

	@ParameterizedTest
	@ValueSource(strings = { "", "/", "app/chat", "/app//chat", "//app/chat", "/app/chat/", "/topic/a/../b",
			"/topic/a..b", "/topic/./a", "/topic/.a", "/topic/a.", "/topic/a?b", "/topic/a%2Fb", "/topic/a;b",
			"/topic/a b", "/topic/a\tb", "/topic/a\nb", "/topic/*", "/topic/**", "/topic/{a}", "/topic/a\\b",
			"/topic/é", "/topic/a:b", "/topic/a#b", "/topic/a,b", "/topic/a\u0000b" })
	void anythingElseIsInvalid(String destination) {
		assertThat(DestinationSyntax.isValid(destination)).isFalse();
	}

	@ParameterizedTest
	@ValueSource(ints = { 255, 256 })
	void upTo256CharactersAreValid(int length) {
		assertThat(DestinationSyntax.isValid("/topic/" + "x".repeat(length - 7))).isTrue();
	}

	@ParameterizedTest
	@ValueSource(ints = { 257, 20_000 })
	void longerDestinationsAreInvalid(int length) {
		assertThat(DestinationSyntax.isValid("/topic/" + "x".repeat(length - 7))).isFalse();
	}

	@ParameterizedTest
	@ValueSource(strings = { "/topic/x", "/topic/a/b.c" })
	void aDestinationUnderThePrefixIsValidForIt(String destination) {
		assertThat(DestinationSyntax.isValid(destination, "/topic/")).isTrue();
		assertThat(DestinationSyntax.isValid(destination, "/queue/")).isFalse();
	}

	@ParameterizedTest
	@ValueSource(strings = { "/topic", "/topic/", "/topicx/a", "/topic//x" })
	void thePrefixAloneOrALookAlikeIsNot(String destination) {
		assertThat(DestinationSyntax.isValid(destination, "/topic/")).isFalse();
	}

	@org.junit.jupiter.api.Test
	void nullIsInvalid() {
		assertThat(DestinationSyntax.isValid(null)).isFalse();
		assertThat(DestinationSyntax.isValid(null, "/topic/")).isFalse();
	}

}
