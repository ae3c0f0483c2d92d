package io.stomprelay.relay;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The binary envelope format, version {@value #VERSION}:
 * <pre>
 * magic "SR" | version (1 byte) | kind (1 byte) | originTimestamp (8 bytes)
 * stream (4 bytes) | sequence (8 bytes) | failedBefore (8 bytes)                       (the {@link SequenceStamp})
 * originNode | messageId | user ("" if none) | destination | contentType ("" if none)   (UTF strings)
 * header count (2 bytes), each: name, value count (2 bytes), values                     (UTF strings)
 * payload length (4 bytes) | payload
 * </pre>
 * A message of a destination with history travels as a <i>positioned frame</i>: {@code "SH"}, the
 * length of its position (1 byte), the position ({@code <epoch>-<offset>}, ASCII), then the envelope
 * as above. The history's append script writes it ({@code io.stomprelay.history.HistoryStore}); its
 * envelope carries no sequence stamp (the position does that job).
 * <p>Decoding checks the magic, version, kind, required fields, lengths and the size limit, and
 * throws {@link EnvelopeFormatException} for anything else: foreign or broken messages on a
 * relay channel are rejected, never delivered.
 * <p>The sequence stamp sits at a fixed place, so the publisher can {@linkplain #stamp stamp} an
 * encoded envelope at the moment it publishes it, and a receiver can {@linkplain #readStamp read}
 * it without decoding the rest. Version 1 had no stamp; nodes of both versions cannot relay to
 * each other (a rolling upgrade across this change counts {@code bad-envelope} drops).
 */
public class EnvelopeCodec {

	/** The envelope version this node writes and reads. */
	public static final byte VERSION = 2;

	private static final int STAMP_OFFSET = 12;

	private static final int STAMP_LENGTH = 20;

	private static final byte MAGIC_0 = 'S';

	private static final byte MAGIC_1 = 'R';

	private static final byte POSITIONED_MAGIC_1 = 'H';

	private static final int MAX_HEADERS = 64;

	private final int maxEnvelopeBytes;

	public EnvelopeCodec(int maxEnvelopeBytes) {
		this.maxEnvelopeBytes = maxEnvelopeBytes;
	}

	/**
	 * @throws EnvelopeFormatException when the result would be refused by {@link #decode}: larger than
	 * the limit, too many headers or values, or a string longer than 65,535 bytes
	 */
	public byte[] encode(RelayEnvelope envelope) {
		Map<String, List<String>> headers = envelope.nativeHeaders();
		if (headers.size() > MAX_HEADERS) {
			throw new EnvelopeFormatException("too many headers");
		}
		if (envelope.payload().length > this.maxEnvelopeBytes) {
			throw new EnvelopeFormatException("larger than " + this.maxEnvelopeBytes + " bytes");
		}
		String user = orEmpty(envelope.user());
		String contentType = orEmpty(envelope.contentType());
		long size = 4 + 8 + STAMP_LENGTH + utfSize(envelope.originNode()) + utfSize(envelope.messageId())
				+ utfSize(user) + utfSize(envelope.destination()) + utfSize(contentType) + 2;
		for (Map.Entry<String, List<String>> header : headers.entrySet()) {
			if (header.getValue().size() > MAX_HEADERS) {
				throw new EnvelopeFormatException("too many headers");
			}
			size += utfSize(header.getKey()) + 2;
			for (String value : header.getValue()) {
				size += utfSize(value);
			}
		}
		size += 4 + envelope.payload().length;
		if (size > this.maxEnvelopeBytes) {
			throw new EnvelopeFormatException("larger than " + this.maxEnvelopeBytes + " bytes");
		}
		ByteBuffer out = ByteBuffer.allocate((int) size);
		out.put(MAGIC_0).put(MAGIC_1).put(VERSION).put(envelope.kind().code()).putLong(envelope.originTimestamp());
		out.position(out.position() + STAMP_LENGTH);
		putUtf(out, envelope.originNode());
		putUtf(out, envelope.messageId());
		putUtf(out, user);
		putUtf(out, envelope.destination());
		putUtf(out, contentType);
		out.putShort((short) headers.size());
		for (Map.Entry<String, List<String>> header : headers.entrySet()) {
			putUtf(out, header.getKey());
			out.putShort((short) header.getValue().size());
			for (String value : header.getValue()) {
				putUtf(out, value);
			}
		}
		out.putInt(envelope.payload().length).put(envelope.payload());
		return out.array();
	}

	public RelayEnvelope decode(byte[] bytes) {
		if (bytes == null) {
			throw new EnvelopeFormatException("too short");
		}
		return decode(bytes, 0);
	}

	/**
	 * The bytes {@link java.io.DataOutput#writeUTF} writes for {@code value}, which {@link #decode}
	 * reads back as {@link DataInputStream#readUTF} does: a 2-byte length, then modified UTF-8 (U+0000
	 * as two bytes, a supplementary character as its two surrogates of three bytes each).
	 * @throws EnvelopeFormatException when the encoded string is longer than 65,535 bytes
	 */
	private static int utfSize(String value) {
		int length = value.length();
		int bytes = length;
		for (int i = 0; i < length; i++) {
			char c = value.charAt(i);
			if (c >= 0x800) {
				bytes += 2;
			}
			else if (c >= 0x80 || c == 0) {
				bytes += 1;
			}
		}
		if (bytes > 0xFFFF) {
			throw new EnvelopeFormatException("a header or destination is too long");
		}
		return 2 + bytes;
	}

	/** Writes {@code value} as {@link #utfSize} sizes it (which has checked its length). */
	private static void putUtf(ByteBuffer out, String value) {
		int lengthAt = out.position();
		out.position(lengthAt + 2);
		for (int i = 0, n = value.length(); i < n; i++) {
			char c = value.charAt(i);
			if (c != 0 && c < 0x80) {
				out.put((byte) c);
			}
			else if (c < 0x800) {
				out.put((byte) (0xC0 | (c >> 6))).put((byte) (0x80 | (c & 0x3F)));
			}
			else {
				out.put((byte) (0xE0 | (c >> 12))).put((byte) (0x80 | ((c >> 6) & 0x3F))).put((byte) (0x80 | (c & 0x3F)));
			}
		}
		out.putShort(lengthAt, (short) (out.position() - lengthAt - 2));
	}

	/**
	 * @param bytes a positioned frame ({@link #isPositioned})
	 * @return its position as written, or {@code null} when the frame is too short for one
	 */
	public static String positionOf(byte[] bytes) {
		int length = (bytes.length > 2) ? bytes[2] & 0xFF : -1;
		return (length > 0 && bytes.length > 3 + length)
				? new String(bytes, 3, length, StandardCharsets.US_ASCII) : null;
	}

	/** @return whether the bytes are a positioned frame rather than a plain envelope */
	public static boolean isPositioned(byte[] bytes) {
		return bytes != null && bytes.length > 3 && bytes[0] == MAGIC_0 && bytes[1] == POSITIONED_MAGIC_1;
	}

	/**
	 * @param bytes a positioned frame whose {@link #positionOf position} was readable
	 * @return the envelope it carries
	 */
	public RelayEnvelope decodePositioned(byte[] bytes) {
		return decode(bytes, 3 + (bytes[2] & 0xFF));
	}

	private RelayEnvelope decode(byte[] bytes, int start) {
		if (bytes.length - start < 4) {
			throw new EnvelopeFormatException("too short");
		}
		if (bytes.length - start > this.maxEnvelopeBytes) {
			throw new EnvelopeFormatException("larger than " + this.maxEnvelopeBytes + " bytes");
		}
		if (bytes[start] != MAGIC_0 || bytes[start + 1] != MAGIC_1) {
			throw new EnvelopeFormatException("not an envelope");
		}
		if (bytes[start + 2] != VERSION) {
			throw new EnvelopeFormatException("unsupported version " + bytes[start + 2]);
		}
		Reader in = new Reader(bytes, start + 4);
		MessageKind kind = MessageKind.fromCode(bytes[start + 3]);
		long timestamp = in.readLong();
		in.skip(STAMP_LENGTH);
		String originNode = required(in.readUtf(), "origin node");
		String messageId = required(in.readUtf(), "message id");
		String user = emptyToNull(in.readUtf());
		String destination = required(in.readUtf(), "destination");
		String contentType = emptyToNull(in.readUtf());
		int headerCount = in.readUnsignedShort();
		if (headerCount > MAX_HEADERS) {
			throw new EnvelopeFormatException("too many headers");
		}
		Map<String, List<String>> headers = (headerCount == 0) ? Collections.emptyMap()
				: new LinkedHashMap<>(headerCount * 2);
		for (int i = 0; i < headerCount; i++) {
			String name = in.readUtf();
			int valueCount = in.readUnsignedShort();
			List<String> values = new ArrayList<>(valueCount);
			for (int v = 0; v < valueCount; v++) {
				values.add(in.readUtf());
			}
			headers.put(name, values);
		}
		int length = in.readInt();
		if (length < 0 || length != in.remaining()) {
			throw new EnvelopeFormatException("payload length mismatch");
		}
		byte[] payload = in.readBytes(length);
		RelayEnvelope envelope = new RelayEnvelope(originNode, messageId, kind, user, destination, timestamp,
				contentType, headers, payload);
		checkConsistent(envelope);
		return envelope;
	}

	/**
	 * Reads the fields of an envelope from its bytes, as {@link java.io.DataInputStream} would,
	 * without a stream and its buffers per message. Running past the end is {@code truncated}.
	 */
	private static final class Reader {

		private final byte[] bytes;

		private int position;

		Reader(byte[] bytes, int position) {
			this.bytes = bytes;
			this.position = position;
		}

		int remaining() {
			return this.bytes.length - this.position;
		}

		private int advance(int count) {
			if (count > remaining()) {
				throw new EnvelopeFormatException("truncated");
			}
			int at = this.position;
			this.position += count;
			return at;
		}

		void skip(int count) {
			advance(count);
		}

		long readLong() {
			int at = advance(8);
			long value = 0;
			for (int i = at; i < at + 8; i++) {
				value = (value << 8) | (this.bytes[i] & 0xFF);
			}
			return value;
		}

		int readInt() {
			int at = advance(4);
			return ((this.bytes[at] & 0xFF) << 24) | ((this.bytes[at + 1] & 0xFF) << 16)
					| ((this.bytes[at + 2] & 0xFF) << 8) | (this.bytes[at + 3] & 0xFF);
		}

		int readUnsignedShort() {
			int at = advance(2);
			return ((this.bytes[at] & 0xFF) << 8) | (this.bytes[at + 1] & 0xFF);
		}

		/**
		 * A string as {@link #putUtf} writes it: ASCII (every byte 1-127) as it is; anything else
		 * through {@link java.io.DataInputStream#readUTF}, which also rejects malformed input.
		 */
		String readUtf() {
			int length = readUnsignedShort();
			int at = advance(length);
			for (int i = at; i < at + length; i++) {
				if (this.bytes[i] <= 0) {
					return readModifiedUtf8(at - 2, length + 2);
				}
			}
			return new String(this.bytes, at, length, StandardCharsets.ISO_8859_1);
		}

		private String readModifiedUtf8(int from, int count) {
			try {
				return new DataInputStream(new ByteArrayInputStream(this.bytes, from, count)).readUTF();
			}
			catch (IOException ex) {
				throw new EnvelopeFormatException("truncated");
			}
		}

		byte[] readBytes(int count) {
			int at = advance(count);
			return Arrays.copyOfRange(this.bytes, at, at + count);
		}

	}

	/**
	 * @param node a node id as {@link #originField} wrote it
	 * @return whether a plain envelope was published by that node, read from its fixed place without
	 * decoding the rest (a node drops its own echo this way, before paying for a decode)
	 */
	public static boolean isFrom(byte[] bytes, byte[] node) {
		int start = STAMP_OFFSET + STAMP_LENGTH;
		return bytes.length >= start + node.length && bytes[0] == MAGIC_0 && bytes[1] == MAGIC_1
				&& Arrays.equals(bytes, start, start + node.length, node, 0, node.length);
	}

	/**
	 * @return the origin node field of an envelope (length and modified UTF-8, as {@link #encode}
	 * writes it) for {@link #isFrom}
	 */
	public static byte[] originField(String node) {
		ByteBuffer field;
		try {
			field = ByteBuffer.allocate(utfSize(node));
		}
		catch (EnvelopeFormatException ex) {
			throw new IllegalArgumentException("node id too long", ex);
		}
		putUtf(field, node);
		return field.array();
	}

	/**
	 * Writes the publisher's sequence stamp into an envelope produced by {@link #encode}.
	 */
	public static void stamp(byte[] encoded, SequenceStamp stamp) {
		ByteBuffer buffer = ByteBuffer.wrap(encoded, STAMP_OFFSET, STAMP_LENGTH);
		buffer.putInt(stamp.stream()).putLong(stamp.sequence()).putLong(stamp.failedBefore());
	}

	/**
	 * @param bytes an envelope that {@link #decode} accepted
	 * @return its sequence stamp
	 */
	public static SequenceStamp readStamp(byte[] bytes) {
		ByteBuffer buffer = ByteBuffer.wrap(bytes, STAMP_OFFSET, STAMP_LENGTH);
		return new SequenceStamp(buffer.getInt(), buffer.getLong(), buffer.getLong());
	}

	private static void checkConsistent(RelayEnvelope envelope) {
		if (envelope.kind() == MessageKind.DISCONNECT) {
			if (envelope.user() == null) {
				throw new EnvelopeFormatException("disconnect without user");
			}
		}
		else if (envelope.kind() == MessageKind.USER) {
			if (envelope.user() == null || !envelope.destination().startsWith(DestinationKinds.USER_PREFIX)
					|| !envelope.user().equals(DestinationKinds.userOf(envelope.destination()))) {
				throw new EnvelopeFormatException("user message without user destination");
			}
		}
		else if (!envelope.destination().startsWith(DestinationKinds.TOPIC_PREFIX)) {
			throw new EnvelopeFormatException("broadcast message without topic destination");
		}
	}

	private static String required(String value, String field) {
		if (value.isEmpty()) {
			throw new EnvelopeFormatException("missing " + field);
		}
		return value;
	}

	private static String orEmpty(String value) {
		return (value != null) ? value : "";
	}

	private static String emptyToNull(String value) {
		return value.isEmpty() ? null : value;
	}

}
