/**
 * Benchmark support: a server-side open-loop publisher driven over HTTP by the load generator
 * in {@code bench/}. Every bean here exists only when {@code stomp-relay.loadtest.enabled=true};
 * production nodes never expose it.
 */
package io.stomprelay.loadtest;
