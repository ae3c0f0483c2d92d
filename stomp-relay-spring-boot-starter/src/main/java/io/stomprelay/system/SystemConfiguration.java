package io.stomprelay.system;

import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.boot.micrometer.metrics.autoconfigure.MeterRegistryCustomizer;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.boot.context.properties.EnableConfigurationProperties;

/**
 * Cross-cutting beans: the node's identity and the node tag on every metric.
 */
@AutoConfiguration
@EnableConfigurationProperties(StompRelayProperties.class)
class SystemConfiguration {

	@Bean
	@ConditionalOnMissingBean
	NodeIdentity nodeIdentity(StompRelayProperties properties) {
		return NodeIdentity.of(properties.nodeId());
	}

	@Bean
	MeterRegistryCustomizer<MeterRegistry> nodeTag(NodeIdentity node) {
		return registry -> registry.config().commonTags("node", node.id());
	}

}
