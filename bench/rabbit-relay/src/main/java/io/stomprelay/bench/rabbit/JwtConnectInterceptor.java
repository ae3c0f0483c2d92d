package io.stomprelay.bench.rabbit;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.Principal;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageDeliveryException;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.messaging.support.MessageHeaderAccessor;

/**
 * Authenticates STOMP CONNECT with an HS256 JWT in the {@code Authorization: Bearer} native
 * header (signature and {@code exp} checked) and sets the session user to its {@code sub}.
 */
class JwtConnectInterceptor implements ChannelInterceptor {

	private static final Pattern SUB = Pattern.compile("\"sub\"\\s*:\\s*\"([^\"]+)\"");

	private static final Pattern EXP = Pattern.compile("\"exp\"\\s*:\\s*(\\d+)");

	private final byte[] secret;

	JwtConnectInterceptor(String secret) {
		this.secret = secret.getBytes(StandardCharsets.UTF_8);
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		StompHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, StompHeaderAccessor.class);
		if (accessor != null && StompCommand.CONNECT.equals(accessor.getCommand())) {
			String auth = accessor.getFirstNativeHeader("Authorization");
			if (auth == null || !auth.startsWith("Bearer ")) {
				throw new MessageDeliveryException("missing bearer token");
			}
			String user = verify(auth.substring(7).trim());
			Principal principal = () -> user;
			accessor.setUser(principal);
		}
		return message;
	}

	private String verify(String jwt) {
		String[] parts = jwt.split("\\.");
		if (parts.length != 3) {
			throw new MessageDeliveryException("malformed token");
		}
		try {
			Mac mac = Mac.getInstance("HmacSHA256");
			mac.init(new SecretKeySpec(this.secret, "HmacSHA256"));
			byte[] expected = mac.doFinal((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
			if (!MessageDigest.isEqual(expected, Base64.getUrlDecoder().decode(parts[2]))) {
				throw new MessageDeliveryException("bad signature");
			}
		}
		catch (java.security.GeneralSecurityException ex) {
			throw new IllegalStateException(ex);
		}
		String claims = new String(Base64.getUrlDecoder().decode(parts[1]), StandardCharsets.UTF_8);
		Matcher exp = EXP.matcher(claims);
		if (!exp.find() || Long.parseLong(exp.group(1)) < System.currentTimeMillis() / 1000) {
			throw new MessageDeliveryException("expired token");
		}
		Matcher sub = SUB.matcher(claims);
		if (!sub.find()) {
			throw new MessageDeliveryException("no sub");
		}
		return sub.group(1);
	}

}
