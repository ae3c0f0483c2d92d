package io.stomprelay.history;

/**
 * The Redis keys of one destination's history (for a user destination: one user's).
 *
 * @param key the stream of envelopes
 * @param metaKey the hash with the stream's epoch and last offset
 */
public record HistoryStream(String key, String metaKey) {
}
