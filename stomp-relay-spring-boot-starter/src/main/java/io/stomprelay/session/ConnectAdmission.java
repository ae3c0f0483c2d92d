package io.stomprelay.session;

import java.util.concurrent.CompletableFuture;

/**
 * The last word on a session's CONNECT, asked in the session's frame order just before the broker
 * would answer it with {@code CONNECTED}: the per-node checks have passed (the session is
 * {@linkplain LocalSessionRegistry#open opened}), and an admission may still refuse it for a
 * reason only the cluster knows (its user's sessions on every node). It must not block: the
 * session's later frames wait for the answer, no thread does.
 */
@FunctionalInterface
public interface ConnectAdmission {

	/** Admits every session: the per-node checks are all there is. */
	ConnectAdmission LOCAL = session -> CompletableFuture.completedFuture(true);

	/**
	 * @param session the opened session
	 * @return completes with {@code false} to refuse the CONNECT ("too many sessions for this user"),
	 * {@code true} to admit it; an admission that cannot ask admits
	 */
	CompletableFuture<Boolean> admit(LocalSession session);

}
