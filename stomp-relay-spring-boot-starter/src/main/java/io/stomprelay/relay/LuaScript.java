package io.stomprelay.relay;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A Lua script the relay runs on Redis, with its SHA-1 digest computed once. On the publishing
 * connection of a standalone or Sentinel Redis it runs by digest ({@code EVALSHA}), so Redis
 * neither receives nor hashes the script's text for every message; a Redis that does not know the
 * script yet (just started, failed over, {@code SCRIPT FLUSH}) answers {@code NOSCRIPT}, and the
 * call is sent again with the text ({@link PublishPipeline}).
 */
public final class LuaScript {

	private final String text;

	private final byte[] body;

	private final byte[] digest;

	private LuaScript(String text) {
		this.text = text;
		this.body = text.getBytes(StandardCharsets.UTF_8);
		this.digest = HexFormat.of().formatHex(sha1(this.body)).getBytes(StandardCharsets.US_ASCII);
	}

	/**
	 * @param text the script's Lua source
	 */
	public static LuaScript of(String text) {
		return new LuaScript(text);
	}

	/** @return the Lua source */
	public String text() {
		return this.text;
	}

	/** @return the Lua source as Redis receives it with {@code EVAL} */
	byte[] body() {
		return this.body;
	}

	/** @return the lower-case hex SHA-1 of the source, as {@code EVALSHA} takes it */
	byte[] digest() {
		return this.digest;
	}

	private static byte[] sha1(byte[] bytes) {
		try {
			return MessageDigest.getInstance("SHA-1").digest(bytes);
		}
		catch (NoSuchAlgorithmException ex) {
			throw new IllegalStateException("SHA-1 is not available", ex);
		}
	}

	@Override
	public String toString() {
		return "LuaScript[" + new String(this.digest, StandardCharsets.US_ASCII) + "]";
	}

}
