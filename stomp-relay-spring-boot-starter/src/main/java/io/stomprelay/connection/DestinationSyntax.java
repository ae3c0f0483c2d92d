package io.stomprelay.connection;

import java.util.regex.Pattern;

/**
 * The one rule for what a destination may look like, wherever a client or a server-side sender
 * names one (STOMP SEND and SUBSCRIBE through {@link DestinationSyntaxInterceptor}, the HTTP push
 * API): {@code /}-separated segments of letters, digits, {@code -}, {@code _} and {@code .}, at most
 * {@value #MAX_LENGTH} characters. No empty segment ({@code //}, a trailing {@code /}), no segment
 * starting or ending with a dot and no {@code ..}, no {@code %}, {@code ;}, {@code ?}, {@code *},
 * <code>{</code>, whitespace or any other character.
 * <p>
 * Spring Security's matchers, the application's {@code @MessageMapping} matcher and the broker's
 * pattern matcher read some of those characters differently ({@code /app//chat} is not
 * {@code /app/chat} to one but is to another; {@code ?} is a wildcard to the broker). With only
 * plain segments left they all see the same destination, and a Redis channel name stays short.
 */
public final class DestinationSyntax {

	/** The longest destination accepted. */
	public static final int MAX_LENGTH = 256;

	private static final Pattern VALID = Pattern.compile("(?:/[A-Za-z0-9_-]+(?:\\.[A-Za-z0-9_-]+)*)+");

	private DestinationSyntax() {
	}

	/**
	 * @param destination a destination as received, may be {@code null}
	 * @return whether it follows the rule
	 */
	public static boolean isValid(String destination) {
		return destination != null && destination.length() <= MAX_LENGTH && VALID.matcher(destination).matches();
	}

	/**
	 * @param destination a destination as received, may be {@code null}
	 * @param prefix the prefix it must have, ending with {@code /}, e.g. {@code /topic/}
	 * @return whether it follows the rule and names something under {@code prefix}
	 */
	public static boolean isValid(String destination, String prefix) {
		return isValid(destination) && destination.startsWith(prefix);
	}

}
