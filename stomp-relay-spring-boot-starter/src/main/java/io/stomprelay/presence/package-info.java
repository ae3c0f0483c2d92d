/**
 * Cluster-wide presence: every node lists its sessions in Redis ({@link io.stomprelay.presence.PresenceStore}),
 * keeps them alive with a heartbeat and removes them as they end ({@link io.stomprelay.presence.ClusterPresence}),
 * so the application's {@code SimpUserRegistry} ({@link io.stomprelay.presence.ClusterUserRegistry}) and
 * {@link io.stomprelay.presence.ClusterSessions} answer for every node, and the per-user session limit
 * counts every node's sessions.
 */
package io.stomprelay.presence;
