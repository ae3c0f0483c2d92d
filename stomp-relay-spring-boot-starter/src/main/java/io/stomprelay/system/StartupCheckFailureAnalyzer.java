package io.stomprelay.system;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * Turns a {@link StartupCheckException} into Spring Boot's "APPLICATION FAILED TO START" report.
 */
class StartupCheckFailureAnalyzer extends AbstractFailureAnalyzer<StartupCheckException> {

	@Override
	protected FailureAnalysis analyze(Throwable rootFailure, StartupCheckException cause) {
		return new FailureAnalysis("stomp-relay cannot start: " + cause.getMessage(), cause.getAction(), cause);
	}

}
