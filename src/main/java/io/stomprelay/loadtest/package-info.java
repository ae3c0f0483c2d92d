/**
 * Benchmark support: a server-side open-loop publisher driven over HTTP by the load generator
 * in {@code bench/}. Every bean here exists only when {@code stomp-relay.loadtest.enabled=true};
 * production nodes never expose it, and where it is enabled a caller needs an admin JWT.
 */
package io.stomprelay.loadtest;
