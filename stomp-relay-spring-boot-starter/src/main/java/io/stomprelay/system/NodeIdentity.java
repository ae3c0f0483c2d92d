package io.stomprelay.system;

import java.util.concurrent.ThreadLocalRandom;

import org.springframework.util.StringUtils;

/**
 * The id of this node, unique per process: it marks the envelopes this node publishes (so it
 * can ignore its own echo) and tags its logs, health and metrics.
 *
 * @param id the node id
 */
public record NodeIdentity(String id) {

	/**
	 * The configured id, or a generated {@code node-xxxxxx} one when none is set.
	 * @param configured the {@code stomp-relay.node-id} property, may be blank
	 * @return the identity
	 */
	public static NodeIdentity of(String configured) {
		if (StringUtils.hasText(configured)) {
			return new NodeIdentity(configured.trim());
		}
		return new NodeIdentity("node-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x100000, 0xFFFFFF)));
	}

}
