package io.stomprelay.api;

/**
 * The answer to an accepted push.
 *
 * @param id the cluster-wide message id
 */
record PushAccepted(String id) {
}
