package io.stomprelay.system;

/**
 * A node refuses to start: something it needs (Redis, a JWT verifier, a valid property) is
 * missing or wrong. Reported by {@link StartupCheckFailureAnalyzer} as a short description and
 * the action to take, without a stack trace.
 */
public class StartupCheckException extends RuntimeException {

	private final String action;

	public StartupCheckException(String description, String action) {
		super(description);
		this.action = action;
	}

	public StartupCheckException(String description, String action, Throwable cause) {
		super(description, cause);
		this.action = action;
	}

	public String getAction() {
		return this.action;
	}

}
