package io.stomprelay.demo;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The demo page in a real browser (Debian's Chromium driven by playwright-core) against two real
 * nodes and a real Redis: the scenarios live in {@code frontend/e2e/run.mjs}; this test starts the
 * cluster, runs them and fails when any of them fails. Writes the side-by-side screenshot to
 * {@code docs/demo.png}. Skipped, saying so, when Chromium or the frontend's packages are absent.
 */
class BrowserEndToEndIT {

	private static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("CHROMIUM_PATH", "/usr/bin/chromium"));

	private static final Path FRONTEND = Path.of("frontend");

	@Test
	void demoPageWorksAcrossTwoNodesInARealBrowser() throws IOException, InterruptedException {
		Assumptions.assumeTrue(Files.isExecutable(CHROMIUM), () -> {
			System.out.println("skipped: no Chromium at " + CHROMIUM + " (install Debian's chromium to run the browser tests)");
			return "skipped: no Chromium";
		});
		Assumptions.assumeTrue(Files.isDirectory(FRONTEND.resolve("node_modules/playwright-core")),
				"skipped: frontend/node_modules missing (the Maven build runs npm ci)");
		try (RedisTestServer redis = RedisTestServer.start();
				RelayNode nodeA = RelayNode.start("node-a", redis);
				RelayNode nodeB = RelayNode.start("node-b", redis)) {
			Path log = Files.createTempFile("browser-e2e", ".log");
			ProcessBuilder e2e = new ProcessBuilder("node", "e2e/run.mjs").directory(FRONTEND.toFile())
				.redirectErrorStream(true)
				.redirectOutput(log.toFile());
			e2e.environment().put("NODE_A_URL", nodeA.httpUrl());
			e2e.environment().put("NODE_B_URL", nodeB.httpUrl());
			e2e.environment().put("CHROMIUM_PATH", CHROMIUM.toString());
			e2e.environment().put("SCREENSHOT_PATH", new File("docs/demo.png").getAbsolutePath());
			Process process = e2e.start();
			boolean finished = process.waitFor(4, TimeUnit.MINUTES);
			if (!finished) {
				process.destroyForcibly();
			}
			String output = Files.readString(log, StandardCharsets.UTF_8);
			System.out.println(output);
			assertThat(finished).as("browser tests finished within 4 minutes").isTrue();
			assertThat(process.exitValue()).as("browser tests exit code; output:%n%s", output).isZero();
			assertThat(output).containsPattern("(?m)^\\d+ passed, 0 failed$");
		}
	}

}
