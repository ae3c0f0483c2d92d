package io.stomprelay.session;

/**
 * A token bucket: {@code capacity} frames at once, refilled at {@code ratePerSecond}. A session's
 * inbound frame allowance ({@link LocalSession#inboundRate()}).
 */
public final class TokenBucket {

	private final double ratePerNano;

	private final double capacity;

	private double tokens;

	private long last;

	public TokenBucket(int ratePerSecond, int capacity) {
		this.ratePerNano = ratePerSecond / 1e9;
		this.capacity = Math.max(1, capacity);
		this.tokens = this.capacity;
		this.last = System.nanoTime();
	}

	/** @return whether a frame may pass now; if so, it has taken its token */
	public synchronized boolean tryTake() {
		long now = System.nanoTime();
		this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.ratePerNano);
		this.last = now;
		if (this.tokens < 1) {
			return false;
		}
		this.tokens -= 1;
		return true;
	}

}
