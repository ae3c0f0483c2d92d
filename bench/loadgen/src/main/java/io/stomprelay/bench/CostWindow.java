package io.stomprelay.bench;

import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * What {@link InboundCost} and {@link PushCost} share: the node under load ({@code server-pid}),
 * the secret its tokens are signed with, the payload size, and the window in which the node's CPU
 * time is read: after {@code warmup} seconds of load, for {@code seconds}.
 */
final class CostWindow {

	final String secret;

	final long serverPid;

	final int payload;

	final int seconds;

	private final int warmup;

	private long measureFrom;

	private long end;

	private long cpuBefore;

	CostWindow(Map<String, String> args, int defaultWarmupSeconds) {
		this.secret = LoadGen.req(args, "secret");
		this.serverPid = Long.parseLong(LoadGen.req(args, "server-pid"));
		this.payload = Integer.parseInt(args.getOrDefault("payload", "100"));
		this.seconds = Integer.parseInt(args.getOrDefault("seconds", "20"));
		this.warmup = Integer.parseInt(args.getOrDefault("warmup", Integer.toString(defaultWarmupSeconds)));
	}

	/** The load starts now: the window opens after the warm-up. */
	void loadStarts() {
		this.measureFrom = System.nanoTime() + TimeUnit.SECONDS.toNanos(this.warmup);
		this.end = this.measureFrom + TimeUnit.SECONDS.toNanos(this.seconds);
	}

	boolean warmedUp() {
		return System.nanoTime() >= this.measureFrom;
	}

	boolean over() {
		return System.nanoTime() >= this.end;
	}

	/** Sleeps until the window opens, then reads the node's CPU time. */
	void awaitOpen() throws InterruptedException {
		TimeUnit.NANOSECONDS.sleep(Math.max(0, this.measureFrom - System.nanoTime()));
		open();
	}

	/** Reads the node's CPU time as the window opens. */
	void open() {
		this.cpuBefore = ProcCpu.cpuMillis(this.serverPid);
	}

	/** Sleeps until the window ends. */
	void awaitEnd() throws InterruptedException {
		TimeUnit.NANOSECONDS.sleep(Math.max(0, this.end - System.nanoTime()));
	}

	/** @return the node's CPU time since the window opened, in milliseconds */
	long cpuMillis() {
		return ProcCpu.cpuMillis(this.serverPid) - this.cpuBefore;
	}

}
