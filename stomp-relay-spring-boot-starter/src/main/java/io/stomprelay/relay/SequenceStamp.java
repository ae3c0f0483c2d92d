package io.stomprelay.relay;

/**
 * Where a message stands in its origin's stream of messages on one channel, so a receiving node
 * can tell that it missed some (see {@link ReceiveGaps}).
 *
 * @param stream identifies one run of the origin's counter for the channel (a new run starts when
 * the origin starts, or after the channel was idle on the origin)
 * @param sequence 1 for the run's first message, then one more for every message the origin tried
 * to publish on the channel
 * @param failedBefore how many of the run's earlier publishes the origin already knew had failed
 * (and counted as dropped itself) when it published this one
 */
public record SequenceStamp(int stream, long sequence, long failedBefore) {
}
