package io.stomprelay.relay;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

import org.springframework.beans.factory.DisposableBean;
import org.springframework.scheduling.concurrent.CustomizableThreadFactory;

/**
 * The named, bounded executor that delivers messages arriving from Redis: a fixed set of
 * single-threaded lanes ({@code stomp-relay-delivery-N}), each with a bounded queue. A channel
 * always maps to the same lane, so messages on one channel are delivered in the order Redis
 * delivered them, while different channels proceed in parallel. A full lane rejects work instead
 * of blocking the Redis I/O thread.
 */
public class DeliveryLanes implements DisposableBean {

	private final List<ThreadPoolExecutor> lanes;

	public DeliveryLanes(int laneCount, int queueCapacity) {
		CustomizableThreadFactory threads = new CustomizableThreadFactory("stomp-relay-delivery-");
		threads.setDaemon(true);
		this.lanes = new ArrayList<>(laneCount);
		for (int i = 0; i < laneCount; i++) {
			this.lanes.add(new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
					new LinkedBlockingQueue<>(queueCapacity), threads, new ThreadPoolExecutor.AbortPolicy()));
		}
	}

	/**
	 * @param key the ordering key (the channel)
	 * @param task the delivery
	 * @return {@code false} when the lane is full or shut down and the task was not accepted
	 */
	public boolean submit(String key, Runnable task) {
		ThreadPoolExecutor lane = this.lanes.get(Math.floorMod(key.hashCode(), this.lanes.size()));
		try {
			lane.execute(task);
			return true;
		}
		catch (RejectedExecutionException ex) {
			return false;
		}
	}

	/** @return messages waiting in all lanes */
	public int backlog() {
		return this.lanes.stream().mapToInt(lane -> lane.getQueue().size()).sum();
	}

	@Override
	public void destroy() throws InterruptedException {
		for (ThreadPoolExecutor lane : this.lanes) {
			lane.shutdown();
		}
		for (ThreadPoolExecutor lane : this.lanes) {
			lane.awaitTermination(5, TimeUnit.SECONDS);
		}
	}

}
