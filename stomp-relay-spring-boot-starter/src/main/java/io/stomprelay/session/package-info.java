/**
 * This node's STOMP sessions, in one place: {@link io.stomprelay.session.LocalSessionRegistry}
 * holds one {@link io.stomprelay.session.LocalSession} per session id, with everything the node
 * knows about it (who, since when, what it subscribes to, its inbound allowance, its expiry).
 * The limits, the token expiry, the relay's channel interest and the shutdown drain read and write
 * sessions through it; none of them keeps a map of sessions of its own.
 */
package io.stomprelay.session;
