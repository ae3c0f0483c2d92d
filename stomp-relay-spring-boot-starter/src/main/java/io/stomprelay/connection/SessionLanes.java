package io.stomprelay.connection;

import java.util.ArrayDeque;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.core.task.TaskExecutor;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.support.MessageHandlingRunnable;

/**
 * The executor of the client inbound channel: every task that handles a frame of one session runs
 * after the tasks of that session's earlier frames have finished, on a shared pool, so one
 * session's frames are handled strictly in the order the client sent them (a SUBSCRIBE before the
 * SEND behind it, an UNSUBSCRIBE after its SUBSCRIBE, a session's end after its start) while
 * different sessions run in parallel.
 * <p>Unlike Spring's {@code setPreserveReceiveOrder}, the channel interceptors' {@code preSend}
 * still runs on the thread that read the frame, so a frame refused by authentication, the
 * destination rules or a limit still fails in the STOMP handler and becomes an {@code ERROR} frame
 * for the client.
 * <p>A task may {@linkplain #pauseUntil pause its session's lane} until something completes (a
 * Redis subscription being confirmed): the lane then runs nothing of that session, and holds no
 * pool thread, until the wait is over; the pool goes on serving every other session.
 * <p>A lane exists only while its session has work queued, so ended sessions leave nothing behind.
 * A lane runs a bounded batch of tasks before it yields its thread, so a flooding client cannot
 * monopolise the pool.
 * <p>The thread that reads a session's frames from its connection ({@link #readFrames}) handles a
 * frame of that session itself when the session's lane is idle, instead of handing it to the pool
 * and going back to sleep: on a busy node that hand-off (a pool thread woken per frame, and put to
 * sleep again) cost more than handling the frame. The order is the same, because a frame runs
 * inline only when nothing of its session is queued or running, and later frames of the session
 * cannot be read until it returns; a client that sends faster than its frames are handled is
 * simply read more slowly. Frames of other sessions, and tasks sent from any other thread, still go
 * through the pool.
 */
public class SessionLanes implements TaskExecutor {

	private static final Logger logger = LoggerFactory.getLogger(SessionLanes.class);

	private static final int BATCH = 16;

	private final Executor pool;

	private final ConcurrentHashMap<String, Lane> lanes = new ConcurrentHashMap<>();

	private final ThreadLocal<Lane> current = new ThreadLocal<>();

	/** The session whose frames this thread is reading from its connection right now. */
	private final ThreadLocal<String> reading = new ThreadLocal<>();

	/**
	 * @param pool the threads that run the lanes
	 */
	public SessionLanes(Executor pool) {
		this.pool = pool;
	}

	@Override
	public void execute(Runnable task) {
		String session = sessionOf(task);
		if (session == null) {
			this.pool.execute(task);
			return;
		}
		for (;;) {
			Lane lane = this.lanes.computeIfAbsent(session, Lane::new);
			synchronized (lane) {
				if (lane.retired) {
					continue;
				}
				lane.queue.add(task);
				if (lane.scheduled) {
					return;
				}
				lane.scheduled = true;
			}
			if (session.equals(this.reading.get()) && this.current.get() == null) {
				drain(lane);
			}
			else {
				schedule(lane);
			}
			return;
		}
	}

	/**
	 * Reads frames of one session on this thread: while {@code read} runs, a frame of that session
	 * whose lane is idle is handled right here instead of on the pool.
	 * @param session the id of the session whose WebSocket message {@code read} handles
	 * @param read what the container asked of this thread: decode the message and send its frames on
	 */
	public void readFrames(String session, FrameReader read) throws Exception {
		String outer = this.reading.get();
		this.reading.set(session);
		try {
			read.read();
		}
		finally {
			if (outer != null) {
				this.reading.set(outer);
			}
			else {
				this.reading.remove();
			}
		}
	}

	/**
	 * Holds the rest of the current session's frames until {@code gate} completes (successfully or
	 * not), then runs {@code resume} before them. Called from a task of this executor; anywhere else
	 * it only runs {@code resume} on the pool once {@code gate} completes.
	 * @param gate what to wait for; bound it (e.g. {@code orTimeout}) so a lane cannot wait forever
	 * @param resume the deferred rest of the current task
	 */
	public void pauseUntil(CompletionStage<?> gate, Runnable resume) {
		Lane lane = this.current.get();
		if (lane == null) {
			gate.whenComplete((result, failure) -> this.pool.execute(resume));
			return;
		}
		synchronized (lane) {
			lane.gate = gate;
			lane.queue.addFirst(resume);
		}
	}

	/** @return sessions with frames waiting or being handled right now */
	public int activeSessions() {
		return this.lanes.size();
	}

	private void schedule(Lane lane) {
		try {
			this.pool.execute(() -> drain(lane));
		}
		catch (RejectedExecutionException ex) {
			// The pool is shutting down: finish the session's frames here rather than lose them.
			drain(lane);
		}
	}

	private void drain(Lane lane) {
		for (int i = 0; i < BATCH; i++) {
			Runnable task;
			synchronized (lane) {
				task = lane.queue.poll();
				if (task == null) {
					lane.scheduled = false;
					lane.retired = true;
					this.lanes.remove(lane.session, lane);
					return;
				}
			}
			run(lane, task);
			CompletionStage<?> gate;
			synchronized (lane) {
				gate = lane.gate;
				lane.gate = null;
			}
			if (gate != null) {
				gate.whenComplete((result, failure) -> schedule(lane));
				return;
			}
		}
		schedule(lane);
	}

	private void run(Lane lane, Runnable task) {
		this.current.set(lane);
		try {
			task.run();
		}
		catch (RuntimeException | Error ex) {
			// The lane goes on with the session's next frame whatever one handler did.
			logger.warn("Inbound frame of session {} failed in its handler: {}", lane.session, ex.getClass().getName());
		}
		finally {
			this.current.remove();
		}
	}

	private static String sessionOf(Runnable task) {
		if (task instanceof MessageHandlingRunnable handling) {
			return SimpMessageHeaderAccessor.getSessionId(handling.getMessage().getHeaders());
		}
		return null;
	}

	/** The reading of one WebSocket message, as the container hands it to the STOMP handler. */
	@FunctionalInterface
	public interface FrameReader {

		void read() throws Exception;

	}

	private static final class Lane {

		final String session;

		final ArrayDeque<Runnable> queue = new ArrayDeque<>();

		boolean scheduled;

		boolean retired;

		CompletionStage<?> gate;

		Lane(String session) {
			this.session = session;
		}

	}

}
