package io.stomprelay.relay;

import java.util.List;
import java.util.Map;

/**
 * One message on its way between nodes.
 *
 * @param originNode the node that published it (it ignores its own echo)
 * @param messageId the cluster-wide message id
 * @param kind who receives it
 * @param user the target user for {@link MessageKind#USER}, otherwise {@code null}
 * @param destination the destination as the application sent it, e.g.
 * {@code /user/alice/queue/events} or {@code /topic/chat}
 * @param originTimestamp when the origin published it (epoch millis), for relay latency
 * @param contentType the payload's content type, or {@code null}
 * @param nativeHeaders the STOMP headers the application set on the message
 * @param payload the serialized payload
 */
public record RelayEnvelope(String originNode, String messageId, MessageKind kind, String user, String destination,
		long originTimestamp, String contentType, Map<String, List<String>> nativeHeaders, byte[] payload) {
}
