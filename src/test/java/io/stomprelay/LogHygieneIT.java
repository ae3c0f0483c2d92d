package io.stomprelay;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Runs after every other integration test and reads the log the nodes wrote meanwhile (bad tokens,
 * forged frames, fuzzing, outages included): no line carries a stack trace, a JWT or the secret.
 */
@Order(Integer.MAX_VALUE)
class LogHygieneIT {

	private static final Path LOG = Path.of("target/test-logs/suite.log");

	private static final Pattern STACK_FRAME = Pattern.compile("^\\s+at [\\w.$]+\\(.*\\)$");

	private static final Pattern JWT = Pattern.compile("eyJ[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}");

	@Test
	void noLogLineCarriesAStackTraceATokenOrTheSecret() throws IOException {
		assertThat(LOG).exists();
		List<String> lines = Files.readAllLines(LOG);
		System.out.println("log hygiene: checked " + lines.size() + " log lines");
		assertThat(lines).isNotEmpty();
		assertThat(lines).as(() -> "a stack trace in the log:\n" + firstStackTrace(lines))
			.noneMatch(line -> STACK_FRAME.matcher(line).matches());
		assertThat(lines).noneMatch(line -> JWT.matcher(line).find());
		assertThat(lines).noneMatch(line -> line.contains(TestTokens.SECRET));
	}

	/** The log line that carries the first stack trace, its exception and first frames, for the report. */
	private static String firstStackTrace(List<String> lines) {
		for (int i = 0; i < lines.size(); i++) {
			if (STACK_FRAME.matcher(lines.get(i)).matches()) {
				int from = Math.max(0, i - 3);
				return String.join("\n", lines.subList(from, Math.min(lines.size(), i + 5)));
			}
		}
		return "(none)";
	}

}
