package io.stomprelay.relay;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/**
 * The binary envelope format: what one node writes, another reads back unchanged, and anything
 * else on a relay channel is refused with {@link EnvelopeFormatException}.
 */
class EnvelopeCodecTest {

	private static final int MAX = 64 * 1024;

	private final EnvelopeCodec codec = new EnvelopeCodec(MAX);

	// ---- round trips

	@ParameterizedTest
	@EnumSource(MessageKind.class)
	void everyKindRoundTripsWithHeadersContentTypeAndPayload(MessageKind kind) {
		Map<String, List<String>> headers = new LinkedHashMap<>();
		headers.put("x-trace", List.of("abc-123"));
		headers.put("x-multi", List.of("one", "two", "three"));
		headers.put("x-unicode", List.of("ü€😀", "nul\u0000inside"));
		headers.put("x-empty", List.of(""));
		RelayEnvelope original = envelope(kind, headers, "payload ü€".getBytes(StandardCharsets.UTF_8));

		RelayEnvelope decoded = this.codec.decode(this.codec.encode(original));

		assertSameEnvelope(decoded, original);
		assertThat(decoded.nativeHeaders().keySet()).as("header order is kept")
			.containsExactly("x-trace", "x-multi", "x-unicode", "x-empty");
	}

	/**
	 * The bytes are the format's own, written field by field with {@code DataOutputStream} (as nodes
	 * of earlier releases wrote them): nodes of this release and of those relay to each other.
	 */
	@Test
	void theBytesAreThoseOfTheFormatWrittenWithDataOutput() throws java.io.IOException {
		Map<String, List<String>> headers = new LinkedHashMap<>();
		headers.put("x-ascii", List.of("abc-123"));
		headers.put("x-ü€", List.of("ü€😀", "nul\u0000inside", "\u007f\u0080\u07ff\u0800\uffff", ""));
		RelayEnvelope envelope = new RelayEnvelope("node-ß", "m-€1", MessageKind.USER, "émile",
				"/user/émile/queue/😀", -5L, null, headers, "payload ü€".getBytes(StandardCharsets.UTF_8));

		java.io.ByteArrayOutputStream raw = new java.io.ByteArrayOutputStream();
		java.io.DataOutputStream out = new java.io.DataOutputStream(raw);
		out.write(new byte[] { 'S', 'R', EnvelopeCodec.VERSION, MessageKind.USER.code() });
		out.writeLong(-5L);
		out.write(new byte[20]);
		for (String field : new String[] { "node-ß", "m-€1", "émile", "/user/émile/queue/😀", "" }) {
			out.writeUTF(field);
		}
		out.writeShort(2);
		out.writeUTF("x-ascii");
		out.writeShort(1);
		out.writeUTF("abc-123");
		out.writeUTF("x-ü€");
		out.writeShort(4);
		for (String value : headers.get("x-ü€")) {
			out.writeUTF(value);
		}
		out.writeInt(envelope.payload().length);
		out.write(envelope.payload());

		assertThat(this.codec.encode(envelope)).isEqualTo(raw.toByteArray());
		assertSameEnvelope(this.codec.decode(raw.toByteArray()), envelope);
	}

	/** Decoding reads ASCII strings as they are and anything else as modified UTF-8, strictly. */
	@Test
	void aMalformedNonAsciiStringIsRefused() {
		byte[] bytes = this.codec.encode(envelope(MessageKind.ALL, Map.of("x-u", List.of("aé")), new byte[0]));
		int at = indexOf(bytes, new byte[] { 'a', (byte) 0xC3, (byte) 0xA9 });
		RelayEnvelope intact = this.codec.decode(bytes);
		assertThat(intact.nativeHeaders().get("x-u")).containsExactly("aé");

		bytes[at + 2] = 'b'; // a two-byte lead followed by an ASCII byte
		assertRejected(bytes, "truncated");
		bytes[at + 1] = 0; // a NUL byte is not how the format writes U+0000, but DataInput reads it as one
		bytes[at + 2] = 'b';
		assertThat(this.codec.decode(bytes).nativeHeaders().get("x-u")).containsExactly("a\u0000b");
	}

	private static int indexOf(byte[] bytes, byte[] part) {
		for (int i = 0; i + part.length <= bytes.length; i++) {
			if (Arrays.equals(bytes, i, i + part.length, part, 0, part.length)) {
				return i;
			}
		}
		throw new AssertionError("not found");
	}

	@Test
	void aStringOfExactly65535EncodedBytesIsAcceptedAndOneMoreIsRefused() {
		String twoByteChars = "é".repeat(32_767) + "x";
		RelayEnvelope fits = envelope(MessageKind.ALL, Map.of("x-big", List.of(twoByteChars)), new byte[0]);
		RelayEnvelope tooLong = envelope(MessageKind.ALL, Map.of("x-big", List.of(twoByteChars + "x")), new byte[0]);
		EnvelopeCodec roomy = new EnvelopeCodec(1024 * 1024);

		assertThat(roomy.decode(roomy.encode(fits)).nativeHeaders().get("x-big")).containsExactly(twoByteChars);
		assertThatThrownBy(() -> roomy.encode(tooLong)).isExactlyInstanceOf(EnvelopeFormatException.class)
			.hasMessage("a header or destination is too long");
	}

	@Test
	void anEmptyPayloadRoundTrips() {
		RelayEnvelope original = envelope(MessageKind.ALL, Map.of(), new byte[0]);

		RelayEnvelope decoded = this.codec.decode(this.codec.encode(original));

		assertSameEnvelope(decoded, original);
		assertThat(decoded.payload()).isEmpty();
	}

	@Test
	void aBinaryPayloadWithEveryByteValueRoundTrips() {
		byte[] payload = new byte[512];
		for (int i = 0; i < payload.length; i++) {
			payload[i] = (byte) i;
		}
		RelayEnvelope original = envelope(MessageKind.USER, Map.of(), payload);

		RelayEnvelope decoded = this.codec.decode(this.codec.encode(original));

		assertThat(decoded.payload()).isEqualTo(payload);
	}

	@Test
	void absentContentTypeAndNoHeadersRoundTripAsNullAndEmpty() {
		RelayEnvelope original = new RelayEnvelope("node-a", "m-1", MessageKind.ALL, null, "/topic/chat", 42L, null,
				Map.of(), new byte[] { 1 });

		RelayEnvelope decoded = this.codec.decode(this.codec.encode(original));

		assertThat(decoded.user()).isNull();
		assertThat(decoded.contentType()).isNull();
		assertThat(decoded.nativeHeaders()).isEmpty();
		assertThat(decoded.originTimestamp()).isEqualTo(42L);
	}

	@Test
	void anEnvelopeOfExactlyTheMaximumSizeIsAccepted() {
		byte[] encoded = this.codec.encode(envelope(MessageKind.ALL, Map.of(), new byte[100]));
		EnvelopeCodec exact = new EnvelopeCodec(encoded.length);

		assertThat(exact.decode(encoded).payload()).hasSize(100);
	}

	@Test
	void sixtyFourHeadersAreAccepted() {
		RelayEnvelope original = envelope(MessageKind.ALL, headers(64), new byte[0]);

		assertThat(this.codec.decode(this.codec.encode(original)).nativeHeaders()).hasSize(64);
	}

	// ---- rejections: framing

	@Test
	void decodingRejectsNull() {
		assertRejected(null, "too short");
	}

	@Test
	void decodingRejectsInputShorterThanTheFixedPrefix() {
		assertRejected(new byte[0], "too short");
		assertRejected(new byte[] { 'S', 'R', 1 }, "too short");
	}

	@Test
	void decodingRejectsWrongMagic() {
		byte[] bytes = validBytes();
		bytes[0] = 'X';
		assertRejected(bytes, "not an envelope");

		byte[] other = validBytes();
		other[1] = 'S';
		assertRejected(other, "not an envelope");

		assertRejected("{\"json\":true}".getBytes(StandardCharsets.UTF_8), "not an envelope");
	}

	@ParameterizedTest
	@ValueSource(bytes = { 0, 1, 3, 127, -1 })
	void decodingRejectsAnUnknownVersion(byte version) {
		byte[] bytes = validBytes();
		bytes[2] = version;
		assertRejected(bytes, "unsupported version " + version);
	}

	@ParameterizedTest
	@ValueSource(bytes = { 0, 5, 9, -1 })
	void decodingRejectsAnUnknownKindCode(byte code) {
		byte[] bytes = validBytes();
		bytes[3] = code;
		assertRejected(bytes, "unknown kind " + code);
	}

	@Test
	void aDisconnectControlNeedsItsUser() {
		byte[] bytes = this.codec.encode(new RelayEnvelope("node-a", "d-1", MessageKind.DISCONNECT, "alice",
				"/user/alice", 1L, null, Map.of(), new byte[0]));
		assertThat(this.codec.decode(bytes).user()).isEqualTo("alice");
		byte[] withoutUser = this.codec.encode(new RelayEnvelope("node-a", "d-2", MessageKind.DISCONNECT, null,
				"/user/alice", 1L, null, Map.of(), new byte[0]));
		assertThatThrownBy(() -> this.codec.decode(withoutUser))
			.isExactlyInstanceOf(EnvelopeFormatException.class)
			.hasMessage("disconnect without user");
	}

	@Test
	void decodingRejectsTheEnvelopeTruncatedAtEveryCutPoint() {
		byte[] bytes = this.codec.encode(envelope(MessageKind.USER, headers(3), "hello".getBytes(StandardCharsets.UTF_8)));
		for (int cut = 0; cut < bytes.length; cut++) {
			byte[] truncated = Arrays.copyOf(bytes, cut);
			int length = cut;
			assertThatThrownBy(() -> this.codec.decode(truncated)).as("cut at %d of %d", length, bytes.length)
				.isExactlyInstanceOf(EnvelopeFormatException.class);
		}
	}

	@Test
	void decodingRejectsTrailingBytesAfterThePayload() {
		byte[] bytes = validBytes();
		byte[] longer = Arrays.copyOf(bytes, bytes.length + 1);
		assertRejected(longer, "payload length mismatch");
	}

	@Test
	void decodingRejectsAPayloadLengthThatDoesNotMatchTheBytes() {
		byte[] payload = "hello".getBytes(StandardCharsets.UTF_8);
		byte[] bytes = this.codec.encode(envelope(MessageKind.ALL, Map.of(), payload));
		int lengthOffset = bytes.length - payload.length - 4;
		assertThat(ByteBuffer.wrap(bytes, lengthOffset, 4).getInt()).isEqualTo(payload.length);

		ByteBuffer.wrap(bytes).putInt(lengthOffset, payload.length - 1);
		assertRejected(bytes, "payload length mismatch");

		ByteBuffer.wrap(bytes).putInt(lengthOffset, payload.length + 1);
		assertRejected(bytes, "payload length mismatch");

		ByteBuffer.wrap(bytes).putInt(lengthOffset, -1);
		assertRejected(bytes, "payload length mismatch");
	}

	@Test
	void decodingRejectsAnEnvelopeOverTheMaximumSize() {
		EnvelopeCodec small = new EnvelopeCodec(100);
		byte[] bytes = this.codec.encode(envelope(MessageKind.ALL, Map.of(), new byte[200]));

		assertThatThrownBy(() -> small.decode(bytes)).isExactlyInstanceOf(EnvelopeFormatException.class)
			.hasMessage("larger than 100 bytes");
	}

	@Test
	void decodingRejectsOneByteOverTheMaximumSize() {
		byte[] bytes = this.codec.encode(envelope(MessageKind.ALL, Map.of(), new byte[100]));
		EnvelopeCodec tight = new EnvelopeCodec(bytes.length - 1);

		assertThatThrownBy(() -> tight.decode(bytes)).isExactlyInstanceOf(EnvelopeFormatException.class)
			.hasMessageStartingWith("larger than");
	}

	@Test
	void decodingRejectsMoreThanSixtyFourHeaders() throws java.io.IOException {
		java.io.ByteArrayOutputStream raw = new java.io.ByteArrayOutputStream();
		java.io.DataOutputStream out = new java.io.DataOutputStream(raw);
		out.write(new byte[] { 'S', 'R', EnvelopeCodec.VERSION, 2 });
		out.writeLong(1L);
		out.write(new byte[20]);
		for (String field : new String[] { "node-a", "m-1", "", "/topic/chat", "" }) {
			out.writeUTF(field);
		}
		out.writeShort(65);
		for (int i = 0; i < 65; i++) {
			out.writeUTF("h" + i);
			out.writeShort(1);
			out.writeUTF("v");
		}
		out.writeInt(0);
		assertRejected(raw.toByteArray(), "too many headers");
	}

	@Test
	void theSequenceStampIsWrittenInPlaceAndReadWithoutDecoding() {
		byte[] bytes = validBytes();
		assertThat(EnvelopeCodec.readStamp(bytes)).isEqualTo(new SequenceStamp(0, 0, 0));

		EnvelopeCodec.stamp(bytes, new SequenceStamp(-7, 42, 3));

		assertThat(EnvelopeCodec.readStamp(bytes)).isEqualTo(new SequenceStamp(-7, 42, 3));
		assertThat(this.codec.decode(bytes).destination()).isEqualTo(this.codec.decode(validBytes()).destination());
	}

	@Test
	void encodingRefusesWhatDecodingWouldReject() {
		assertThatThrownBy(() -> this.codec.encode(envelope(MessageKind.ALL, headers(65), new byte[0])))
			.isExactlyInstanceOf(EnvelopeFormatException.class).hasMessage("too many headers");
		assertThatThrownBy(() -> new EnvelopeCodec(100).encode(envelope(MessageKind.ALL, Map.of(), new byte[200])))
			.isExactlyInstanceOf(EnvelopeFormatException.class).hasMessage("larger than 100 bytes");
		assertThatThrownBy(() -> this.codec
			.encode(envelope(MessageKind.ALL, Map.of("x-big", java.util.List.of("x".repeat(70_000))), new byte[0])))
			.isExactlyInstanceOf(EnvelopeFormatException.class).hasMessage("a header or destination is too long");
	}

	@Test
	void decodingRejectsAUserEnvelopeWhoseUserIsNotTheDestinationsUser() {
		byte[] bytes = this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.USER, "bob",
				"/user/alice/queue/x", 1L, null, Map.of(), new byte[0]));
		assertRejected(bytes, "user message without user destination");
	}

	// ---- rejections: content

	@Test
	void decodingRejectsAMissingOriginNode() {
		assertRejected(this.codec.encode(new RelayEnvelope("", "m-1", MessageKind.ALL, null, "/topic/chat", 1L, null,
				Map.of(), new byte[0])), "missing origin node");
	}

	@Test
	void decodingRejectsAMissingMessageId() {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "", MessageKind.ALL, null, "/topic/chat", 1L, null,
				Map.of(), new byte[0])), "missing message id");
	}

	@Test
	void decodingRejectsAMissingDestination() {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.ALL, null, "", 1L, null,
				Map.of(), new byte[0])), "missing destination");
	}

	@Test
	void decodingRejectsAUserEnvelopeWithoutUser() {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.USER, null,
				"/user/alice/queue/x", 1L, null, Map.of(), new byte[0])), "user message without user destination");
	}

	@ParameterizedTest
	@ValueSource(strings = { "/topic/chat", "/queue/x", "/app/x", "/users/alice/x" })
	void decodingRejectsAUserEnvelopeWithANonUserDestination(String destination) {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.USER, "alice", destination, 1L,
				null, Map.of(), new byte[0])), "user message without user destination");
	}

	@ParameterizedTest
	@ValueSource(strings = { "/user/alice/queue/x", "/queue/x", "/app/x", "/topics/x" })
	void decodingRejectsAnAllEnvelopeWithANonTopicDestination(String destination) {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.ALL, null, destination, 1L, null,
				Map.of(), new byte[0])), "broadcast message without topic destination");
	}

	@Test
	void decodingRejectsAnAuthenticatedEnvelopeWithANonTopicDestination() {
		assertRejected(this.codec.encode(new RelayEnvelope("node-a", "m-1", MessageKind.AUTHENTICATED, null,
				"/user/alice/queue/x", 1L, null, Map.of(), new byte[0])), "broadcast message without topic destination");
	}

	// ---- robustness

	@Test
	void decodingRandomBytesEitherReturnsOrThrowsEnvelopeFormatException() {
		Random random = new Random(20240611L);
		byte[] valid = this.codec.encode(envelope(MessageKind.USER, headers(4), "hello".getBytes(StandardCharsets.UTF_8)));
		int decoded = 0;
		for (int i = 0; i < 5_000; i++) {
			byte[] bytes;
			switch (i % 3) {
				case 0 -> {
					// pure noise
					bytes = new byte[random.nextInt(300)];
					random.nextBytes(bytes);
				}
				case 1 -> {
					// a valid prefix followed by noise, so decoding gets past the magic and version
					bytes = new byte[4 + random.nextInt(300)];
					random.nextBytes(bytes);
					bytes[0] = 'S';
					bytes[1] = 'R';
					bytes[2] = EnvelopeCodec.VERSION;
					bytes[3] = (byte) (1 + random.nextInt(3));
				}
				default -> {
					// a valid envelope with a few bytes flipped or the length changed
					bytes = Arrays.copyOf(valid, Math.max(4, valid.length + random.nextInt(9) - 4));
					for (int flips = 1 + random.nextInt(3); flips > 0; flips--) {
						bytes[4 + random.nextInt(bytes.length - 4)] = (byte) random.nextInt(256);
					}
				}
			}
			try {
				RelayEnvelope envelope = this.codec.decode(bytes);
				assertThat(envelope.originNode()).isNotEmpty();
				assertThat(envelope.messageId()).isNotEmpty();
				assertThat(envelope.destination()).isNotEmpty();
				decoded++;
			}
			catch (EnvelopeFormatException expected) {
				// refused: fine
			}
			catch (Throwable other) {
				fail("iteration %d: decode threw %s for %s", i, other, Arrays.toString(bytes));
			}
		}
		assertThat(decoded).as("some mutated envelopes still decode").isLessThan(5_000);
	}

	// ---- helpers

	private byte[] validBytes() {
		return this.codec.encode(envelope(MessageKind.ALL, Map.of("x-a", List.of("1")), new byte[] { 1, 2, 3 }));
	}

	@Test
	void theOriginIsReadWithoutDecoding() {
		byte[] fromA = this.codec.encode(envelope(MessageKind.USER, Map.of(), new byte[] { 1, 2 }));
		assertThat(EnvelopeCodec.isFrom(fromA, EnvelopeCodec.originField("node-a"))).isTrue();
		assertThat(EnvelopeCodec.isFrom(fromA, EnvelopeCodec.originField("node-ab"))).isFalse();
		assertThat(EnvelopeCodec.isFrom(fromA, EnvelopeCodec.originField("node-"))).isFalse();
		assertThat(EnvelopeCodec.isFrom(fromA, EnvelopeCodec.originField("node-b"))).isFalse();
		assertThat(EnvelopeCodec.isFrom(new byte[] { 'S', 'R' }, EnvelopeCodec.originField("node-a"))).isFalse();
		assertThat(EnvelopeCodec.isFrom("not an envelope at all, long enough to reach".getBytes(),
				EnvelopeCodec.originField("node-a"))).isFalse();
	}

	private void assertRejected(byte[] bytes, String message) {
		assertThatThrownBy(() -> this.codec.decode(bytes)).isExactlyInstanceOf(EnvelopeFormatException.class)
			.hasMessage(message);
	}

	private static RelayEnvelope envelope(MessageKind kind, Map<String, List<String>> headers, byte[] payload) {
		boolean user = kind.perUser();
		return new RelayEnvelope("node-a", "m-" + kind, kind, user ? "alice" : null,
				user ? "/user/alice/queue/events" : "/topic/chat", 1_700_000_000_123L, "application/json;charset=UTF-8",
				headers, payload);
	}

	private static Map<String, List<String>> headers(int count) {
		Map<String, List<String>> headers = new LinkedHashMap<>();
		for (int i = 0; i < count; i++) {
			headers.put("x-h" + i, List.of("v" + i));
		}
		return headers;
	}

	private static void assertSameEnvelope(RelayEnvelope actual, RelayEnvelope expected) {
		assertThat(actual.originNode()).isEqualTo(expected.originNode());
		assertThat(actual.messageId()).isEqualTo(expected.messageId());
		assertThat(actual.kind()).isEqualTo(expected.kind());
		assertThat(actual.user()).isEqualTo(expected.user());
		assertThat(actual.destination()).isEqualTo(expected.destination());
		assertThat(actual.originTimestamp()).isEqualTo(expected.originTimestamp());
		assertThat(actual.contentType()).isEqualTo(expected.contentType());
		assertThat(actual.nativeHeaders()).isEqualTo(expected.nativeHeaders());
		assertThat(actual.payload()).isEqualTo(expected.payload());
	}

}
