package io.stomprelay.loadtest;

/**
 * One publisher run, as posted to {@code POST /api/loadtest/runs}.
 *
 * @param mode {@code "user"} (to {@code /user/{name}/queue/bench} of random users) or
 * {@code "topic"} (to {@code /topic/bench})
 * @param users how many user names to pick from: {@code userPrefix + 0 .. users-1}
 * @param userPrefix prefix of the user names, {@code "u"} by default
 * @param rate messages published per second (not deliveries: a user message reaches every
 * session of the user, a topic message every subscriber)
 * @param seconds how long to publish; the run is cut off at {@code seconds + 2}
 * @param payloadBytes approximate payload size; padded with {@code x}
 * @param runId optional id echoed in every payload so the generator can tell runs apart
 */
public record LoadTestRequest(String mode, Integer users, String userPrefix, Double rate, Integer seconds,
		Integer payloadBytes, Long runId) {

	/** Upper bounds, so a typo can't start an endless or unbounded run. */
	static final int MAX_SECONDS = 120;

	static final double MAX_RATE = 1_000_000;

	/** Fills defaults and checks bounds; throws {@link IllegalArgumentException} on bad input. */
	LoadTestRequest validated(long fallbackRunId) {
		String m = (this.mode == null) ? "user" : this.mode;
		if (!m.equals("user") && !m.equals("topic")) {
			throw new IllegalArgumentException("mode must be user or topic");
		}
		int u = (this.users == null) ? 200 : this.users;
		double r = (this.rate == null) ? 1000 : this.rate;
		int s = (this.seconds == null) ? 10 : this.seconds;
		int p = (this.payloadBytes == null) ? 100 : this.payloadBytes;
		if (u < 1 || r <= 0 || r > MAX_RATE || s < 1 || s > MAX_SECONDS || p < 0 || p > 65536) {
			throw new IllegalArgumentException("users>=1, 0<rate<=" + MAX_RATE + ", 1<=seconds<=" + MAX_SECONDS
					+ ", 0<=payloadBytes<=65536");
		}
		return new LoadTestRequest(m, u, (this.userPrefix == null) ? "u" : this.userPrefix, r, s, p,
				(this.runId == null) ? fallbackRunId : this.runId);
	}

}
