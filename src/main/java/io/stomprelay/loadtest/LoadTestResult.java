package io.stomprelay.loadtest;

/**
 * The outcome of one publisher run.
 *
 * @param runId the run id embedded in the payloads
 * @param mode {@code user} or {@code topic}
 * @param planned messages the schedule called for ({@code rate * seconds})
 * @param sent messages actually handed to the messaging template before the cut-off
 * @param elapsedMillis wall time of the run
 * @param maxLagMicros the worst delay between a message's scheduled and actual send time
 */
public record LoadTestResult(long runId, String mode, long planned, long sent, long elapsedMillis,
		long maxLagMicros) {
}
