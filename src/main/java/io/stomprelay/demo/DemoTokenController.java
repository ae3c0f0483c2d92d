package io.stomprelay.demo;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import javax.crypto.spec.SecretKeySpec;

import com.nimbusds.jose.jwk.source.ImmutableSecret;
import io.stomprelay.system.NodeIdentity;
import io.stomprelay.system.StartupCheckException;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.security.oauth2.jose.jws.MacAlgorithm;
import org.springframework.security.oauth2.jwt.JwsHeader;
import org.springframework.security.oauth2.jwt.JwtClaimsSet;
import org.springframework.security.oauth2.jwt.JwtEncoder;
import org.springframework.security.oauth2.jwt.JwtEncoderParameters;
import org.springframework.security.oauth2.jwt.NimbusJwtEncoder;
import org.springframework.web.ErrorResponseException;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;

/**
 * Demo-only token issuer ({@code stomp-relay.demo.enabled=true}): anyone may ask for a token for any
 * user name, so it must never run in production. The user {@code admin} also gets role
 * {@code admin}, for trying the HTTP push API.
 */
@RestController
@ConditionalOnProperty(name = "stomp-relay.demo.enabled", havingValue = "true")
class DemoTokenController {

	private static final Pattern USERNAME = Pattern.compile("[A-Za-z0-9_.-]{1,32}");

	private final JwtEncoder encoder;

	private final NodeIdentity node;

	private final DemoProperties demo;

	DemoTokenController(StompRelayProperties properties, DemoProperties demo, NodeIdentity node) {
		String secret = properties.auth().jwt().secret();
		if (secret == null || secret.isBlank()) {
			throw new StartupCheckException("the demo token endpoint needs the HS256 secret.",
					"Set stomp-relay.auth.jwt.secret, or turn stomp-relay.demo.enabled off.");
		}
		this.encoder = new NimbusJwtEncoder(new ImmutableSecret<>(
				new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256")));
		this.node = node;
		this.demo = demo;
	}

	@GetMapping("/api/demo/info")
	Map<String, Object> info() {
		return Map.of("node", this.node.id(), "tokenTtlSeconds", this.demo.tokenTtl().toSeconds());
	}

	@PostMapping("/api/demo/token")
	Map<String, Object> token(@RequestBody Map<String, Object> request) {
		Object username = request.get("username");
		if (!(username instanceof String name) || !USERNAME.matcher(name).matches()) {
			ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.BAD_REQUEST,
					"username must be 1 to 32 letters, digits, '.', '_' or '-'.");
			problem.setTitle("Invalid username");
			throw new ErrorResponseException(HttpStatus.BAD_REQUEST, problem, null);
		}
		Instant now = Instant.now();
		Instant expiresAt = now.plus(this.demo.tokenTtl());
		List<String> roles = "admin".equals(name) ? List.of("user", "admin") : List.of("user");
		JwtClaimsSet claims = JwtClaimsSet.builder()
			.subject(name)
			.issuedAt(now)
			.expiresAt(expiresAt)
			.claim("roles", roles)
			.build();
		String token = this.encoder
			.encode(JwtEncoderParameters.from(JwsHeader.with(MacAlgorithm.HS256).build(), claims))
			.getTokenValue();
		return Map.of("token", token, "expiresAt", expiresAt.getEpochSecond());
	}

}
