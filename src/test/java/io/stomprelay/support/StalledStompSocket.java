package io.stomprelay.support;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A STOMP client that stops reading: a plain TCP socket with a tiny receive buffer that does the
 * WebSocket handshake by hand, sends CONNECT and a SUBSCRIBE (waiting for CONNECTED and the
 * RECEIPT), and then never reads again, so everything the server sends piles up on the server.
 */
public final class StalledStompSocket implements AutoCloseable {

	private final Socket socket;

	private StalledStompSocket(Socket socket) {
		this.socket = socket;
	}

	/**
	 * Opens an anonymous STOMP session subscribed to a destination, then stops reading.
	 */
	public static StalledStompSocket subscribe(int port, String destination) {
		try {
			Socket socket = new Socket();
			socket.setReceiveBufferSize(4096);
			socket.setSoTimeout(10_000);
			socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
			OutputStream out = socket.getOutputStream();
			DataInputStream in = new DataInputStream(socket.getInputStream());
			byte[] nonce = new byte[16];
			ThreadLocalRandom.current().nextBytes(nonce);
			out.write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nUpgrade: websocket\r\n"
					+ "Connection: Upgrade\r\nSec-WebSocket-Key: " + Base64.getEncoder().encodeToString(nonce)
					+ "\r\nSec-WebSocket-Version: 13\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
			String response = readHttpHead(in);
			if (!response.startsWith("HTTP/1.1 101")) {
				throw new IllegalStateException("handshake refused: " + response.lines().findFirst().orElse(""));
			}
			sendText(out, "CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:0,0\n\n\0");
			awaitFrame(in, "CONNECTED");
			sendText(out, "SUBSCRIBE\nid:0\ndestination:" + destination + "\nreceipt:stalled\n\n\0");
			awaitFrame(in, "RECEIPT");
			return new StalledStompSocket(socket);
		}
		catch (IOException ex) {
			throw new UncheckedIOException(ex);
		}
	}

	@Override
	public void close() {
		try {
			this.socket.close();
		}
		catch (IOException ex) {
			// closing anyway
		}
	}

	private static String readHttpHead(DataInputStream in) throws IOException {
		ByteArrayOutputStream head = new ByteArrayOutputStream();
		while (!head.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
			head.write(in.readUnsignedByte());
		}
		return head.toString(StandardCharsets.US_ASCII);
	}

	private static void awaitFrame(DataInputStream in, String command) throws IOException {
		while (true) {
			in.readUnsignedByte();
			int length = in.readUnsignedByte() & 0x7F;
			long size = (length == 126) ? in.readUnsignedShort() : (length == 127) ? in.readLong() : length;
			byte[] payload = new byte[(int) size];
			in.readFully(payload);
			String frame = new String(payload, StandardCharsets.UTF_8);
			if (frame.startsWith(command + "\n")) {
				return;
			}
			if (frame.startsWith("ERROR\n")) {
				throw new IllegalStateException("server answered ERROR");
			}
		}
	}

	private static void sendText(OutputStream out, String text) throws IOException {
		byte[] payload = text.getBytes(StandardCharsets.UTF_8);
		byte[] mask = new byte[4];
		ThreadLocalRandom.current().nextBytes(mask);
		out.write(0x81);
		if (payload.length < 126) {
			out.write(0x80 | payload.length);
		}
		else {
			out.write(0x80 | 126);
			out.write(payload.length >>> 8);
			out.write(payload.length & 0xFF);
		}
		out.write(mask);
		for (int i = 0; i < payload.length; i++) {
			out.write(payload[i] ^ mask[i % 4]);
		}
		out.flush();
	}

}
