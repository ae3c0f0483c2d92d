package io.stomprelay.system;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The IDE metadata generated from {@link StompRelayProperties} lists every {@code stomp-relay.*}
 * property with a description, and the README's property table names each of them.
 */
class ConfigurationMetadataTest {

	@Test
	void everyPropertyHasADescriptionAndIsInTheReadme() throws IOException {
		List<JsonNode> properties = new java.util.ArrayList<>();
		// the starter's properties, and the server's own (stomp-relay.demo.*)
		java.util.Enumeration<java.net.URL> files = getClass().getClassLoader()
			.getResources("META-INF/spring-configuration-metadata.json");
		while (files.hasMoreElements()) {
			try (InputStream json = files.nextElement().openStream()) {
				JsonMapper.builder().build().readTree(json).get("properties").valueStream()
					.filter(property -> property.get("name").asString().startsWith("stomp-relay."))
					.forEach(properties::add);
			}
		}
		String readme = Files.readString(Path.of("README.md"));

		assertThat(properties).hasSizeGreaterThanOrEqualTo(35)
			.anyMatch(property -> property.get("name").asString().equals("stomp-relay.demo.enabled"))
			.anyMatch(property -> property.get("name").asString().equals("stomp-relay.relay.enabled"));
		for (JsonNode property : properties) {
			String name = property.get("name").asString();
			assertThat(property.path("description").asString("")).as(name).isNotBlank();
			String leaf = name.substring(name.lastIndexOf('.') + 1);
			assertThat(readme).as("README names " + name).containsAnyOf("`" + name + "`", "/ `" + leaf + "`");
		}
	}

}
