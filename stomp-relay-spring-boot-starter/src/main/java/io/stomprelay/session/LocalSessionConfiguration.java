package io.stomprelay.session;

import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.boot.autoconfigure.AutoConfiguration;

/**
 * The node's one {@link LocalSessionRegistry}. The features that keep per-session facts register
 * their listeners where they are created.
 */
@AutoConfiguration
class LocalSessionConfiguration {

	@Bean
	@ConditionalOnMissingBean
	LocalSessionRegistry localSessionRegistry(MeterRegistry registry) {
		return new LocalSessionRegistry(registry);
	}

}
