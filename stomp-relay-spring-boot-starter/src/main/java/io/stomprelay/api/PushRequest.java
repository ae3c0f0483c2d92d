package io.stomprelay.api;

import tools.jackson.databind.JsonNode;

/**
 * The body of a push: where to and what.
 *
 * @param destination {@code /queue/...} for a user, {@code /topic/...} for broadcasts
 * @param payload any JSON value, delivered as the MESSAGE body
 */
record PushRequest(String destination, JsonNode payload) {
}
