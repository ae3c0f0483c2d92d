package io.stomprelay.connection;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.jspecify.annotations.Nullable;

import org.springframework.security.core.Authentication;
import org.springframework.security.core.GrantedAuthority;

/**
 * The user of a session authenticated by a token on CONNECT: what the session needs of the token
 * for its whole life, and nothing more. The name (the token's {@code sub}), the authorities, and the
 * claims named in {@code stomp-relay.auth.jwt.session-claims}; not the encoded token, its header or
 * its other claims. A session lives for hours and a node holds tens of thousands of them, so the
 * full {@code JwtAuthenticationToken} (about 1 KB each) would be a large share of an idle session's
 * memory; and a bearer token kept in the heap for a session's life is one more copy that could leak
 * (a heap dump, a debug log of the principal). Immutable; always authenticated.
 */
public final class TokenAuthentication implements Authentication {

	private static final long serialVersionUID = 1L;

	private final String name;

	private final List<GrantedAuthority> authorities;

	private final Map<String, Object> claims;

	/**
	 * @param name the user name, the token's subject
	 * @param authorities the authorities the token grants
	 * @param claims the token claims the session keeps, by name
	 */
	public TokenAuthentication(String name, Collection<? extends GrantedAuthority> authorities,
			Map<String, Object> claims) {
		this.name = Objects.requireNonNull(name, "name");
		this.authorities = List.copyOf(authorities);
		this.claims = Map.copyOf(claims);
	}

	@Override
	public String getName() {
		return this.name;
	}

	/** @return the user name, as {@link #getName()} */
	@Override
	public Object getPrincipal() {
		return this.name;
	}

	@Override
	public Collection<GrantedAuthority> getAuthorities() {
		return this.authorities;
	}

	/**
	 * The claims named in {@code stomp-relay.auth.jwt.session-claims} that the token carried, with
	 * the values the JWT decoder gave them ({@code java.time.Instant} for {@code exp}, {@code iat}
	 * and {@code nbf}; lists, maps, strings and numbers as in the token).
	 * @return the kept claims, by name; empty unless claims are configured
	 */
	public Map<String, Object> getClaims() {
		return this.claims;
	}

	/**
	 * @param claim a claim name
	 * @return its value, or {@code null} when the token had no such claim or it is not kept
	 */
	public @Nullable Object getClaim(String claim) {
		return this.claims.get(claim);
	}

	/** @return always {@code null}: the token is not kept once verified */
	@Override
	public @Nullable Object getCredentials() {
		return null;
	}

	/** @return always {@code null} */
	@Override
	public @Nullable Object getDetails() {
		return null;
	}

	@Override
	public boolean isAuthenticated() {
		return true;
	}

	/**
	 * @throws IllegalArgumentException always: a verified token's user stays authenticated for its
	 * session's life, which its expiry ends
	 */
	@Override
	public void setAuthenticated(boolean authenticated) {
		throw new IllegalArgumentException("a token session's authentication cannot be changed");
	}

	@Override
	public boolean equals(Object other) {
		return (other instanceof TokenAuthentication that) && this.name.equals(that.name)
				&& this.authorities.equals(that.authorities) && this.claims.equals(that.claims);
	}

	@Override
	public int hashCode() {
		return this.name.hashCode();
	}

	/** The name and authorities; never a claim value. */
	@Override
	public String toString() {
		return "TokenAuthentication[name=" + this.name + ", authorities=" + this.authorities + ", claims="
				+ this.claims.keySet() + "]";
	}

}
