package io.stomprelay.bench;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.stream.Collectors;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** Hand-rolled HS256 JWT minting (no library), for the CONNECT {@code Authorization} header. */
final class Jwt {

	private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

	private Jwt() {
	}

	/** A token for {@code sub} with {@code roles}, valid for {@code ttlSeconds}, signed with {@code secret}. */
	static String hs256(String secret, String sub, List<String> roles, long ttlSeconds) {
		long now = System.currentTimeMillis() / 1000;
		String header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
		String rolesJson = roles.stream().map(r -> "\"" + r + "\"").collect(Collectors.joining(",", "[", "]"));
		String claims = "{\"sub\":\"" + sub + "\",\"iat\":" + now + ",\"exp\":" + (now + ttlSeconds)
				+ ",\"roles\":" + rolesJson + "}";
		String signingInput = B64.encodeToString(header.getBytes(StandardCharsets.UTF_8)) + "."
				+ B64.encodeToString(claims.getBytes(StandardCharsets.UTF_8));
		try {
			Mac mac = Mac.getInstance("HmacSHA256");
			mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
			byte[] sig = mac.doFinal(signingInput.getBytes(StandardCharsets.US_ASCII));
			return signingInput + "." + B64.encodeToString(sig);
		}
		catch (Exception ex) {
			throw new IllegalStateException(ex);
		}
	}

}
