package io.stomprelay.relay;

/**
 * Keeps per-channel state for as long as this node holds a channel ({@link ChannelInterest}): what
 * the node has seen arrive on it, to find what it missed.
 */
public interface ChannelTracker {

	/** The node just acquired the channel. */
	void open(String channel);

	/** The node released the channel; forget it. */
	void close(String channel);

}
