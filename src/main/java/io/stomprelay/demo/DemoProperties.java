package io.stomprelay.demo;

import java.time.Duration;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The demo's own properties ({@code stomp-relay.demo.*}); the server's, not the starter's.
 *
 * @param enabled whether {@code POST /api/demo/token} hands out tokens and {@code GET /api/demo/online}
 * lists who is online (never in production)
 * @param tokenTtl the lifetime of a demo token
 */
@ConfigurationProperties("stomp-relay.demo")
public record DemoProperties(@DefaultValue("false") boolean enabled, @DefaultValue("15m") Duration tokenTtl) {
}
