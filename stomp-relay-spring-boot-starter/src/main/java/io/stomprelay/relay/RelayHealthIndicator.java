package io.stomprelay.relay;

import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The {@code relay} component of {@code /actuator/health}: {@code UP} while this node can relay
 * across the cluster, {@code DOWN} while its Redis connection is lost (local delivery still works
 * then, but the node is cut off from the others). It belongs to the readiness group, not to
 * liveness: restarting a node does not bring Redis back. Details: the node id, whether Redis is
 * connected, how many relay channels the node needs, and how many deliveries from Redis wait in
 * the delivery lanes. With the relay disabled it is {@code UP} and says so.
 */
public class RelayHealthIndicator implements HealthIndicator {

	private final String nodeId;

	private final RelayBus bus;

	private final ChannelInterest interest;

	private final DeliveryLanes lanes;

	/**
	 * @param bus the relay bus, or {@code null} when the relay is disabled
	 * @param interest the channel interest, or {@code null} when the relay is disabled
	 * @param lanes the delivery lanes, or {@code null} when the relay is disabled
	 */
	public RelayHealthIndicator(String nodeId, RelayBus bus, ChannelInterest interest, DeliveryLanes lanes) {
		this.nodeId = nodeId;
		this.bus = bus;
		this.interest = interest;
		this.lanes = lanes;
	}

	@Override
	public Health health() {
		if (this.bus == null) {
			return Health.up().withDetail("node", this.nodeId).withDetail("relay", "disabled").build();
		}
		boolean connected = this.bus.isConnected();
		return (connected ? Health.up() : Health.down())
			.withDetail("node", this.nodeId)
			.withDetail("redis", connected ? "connected" : "disconnected")
			.withDetail("subscribedChannels", (this.interest != null) ? this.interest.size() : 0)
			.withDetail("deliveryBacklog", (this.lanes != null) ? this.lanes.backlog() : 0)
			.build();
	}

}
