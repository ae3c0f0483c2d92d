package io.stomprelay.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.TextWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The soak client ({@code bench/soak.sh}): a few hundred STOMP sessions spread over the nodes,
 * each reconnecting with exponential backoff when cut, and mixed traffic at a steady rate. It
 * records every send and every delivery in one event log; {@code bench/soak.py} drives the faults
 * (client faults through commands on this process's stdin) and does the accounting afterwards.
 * <p>Event log lines (times in epoch milliseconds):
 * <pre>
 * B t conn node                       connection attempt started (conn = session#incarnation)
 * R t conn node                       CONNECTED and every SUBSCRIBE's RECEIPT received: ready
 * X t conn                            connection closed (or failed)
 * E t conn message                    ERROR frame received (its message header)
 * D t conn id sub pos gap             MESSAGE received carrying message id (sender.seq), on subscription
 *                                     index sub, with its stream-position and stream-gap headers ("-": none)
 * U t conn sub from recovered count   RECEIPT of SUBSCRIBE index sub; from: the resume-from it carried,
 *                                     recovered / count: the RECEIPT's recovered and recovered-count ("-": none)
 * S id class target node t0 t1 status a send: HTTP status (202 = accepted) or SENT for a STOMP SEND
 * K t fault phase detail              a client fault's steps
 * </pre>
 * Message ids are {@code sender.seq}, carried in the payload as {@code ~sender.seq~}: the sender is
 * an HTTP sender thread ({@code h<class><node>}, one per class and node, sequential requests) or one
 * connection ({@code c<class>:<conn>}); seq counts that sender's messages.
 * <p>Resume: each session slot remembers the last {@code stream-position} it saw per subscription,
 * across its connections; a new connection's SUBSCRIBE carries {@code resume-from} with it (every
 * SUBSCRIBE asks for a receipt anyway), so what was published while the session was away is
 * replayed when the relay still has it ({@code recovered:true} on the RECEIPT).
 */
public final class Soak {

	static final PrintStream OUT = System.out;

	/** Delivery classes. */
	static final String USER_HTTP = "user-http", USER_CTRL = "user-ctrl", TOPIC_HTTP = "topic-http",
			TOPIC_CTRL = "topic-ctrl", AUTH_HTTP = "auth-http", AUTH_CTRL = "auth-ctrl";

	static final String[] AUTH_SUBS = { "/user/queue/soak", "/user/queue/direct", "/topic/soak", "/topic/chat",
			"/topic/soak-auth", "/topic/announcements", "/user/queue/errors" };

	static final String[] ANON_SUBS = { "/topic/soak", "/topic/chat", "/topic/soak-auth", "/topic/announcements" };

	final String[] ws;

	final String[] http;

	final String secret;

	final int users;

	final int anon;

	final Random random;

	final EventLoopGroup group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());

	final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);

	final HttpClient client = HttpClient.newBuilder()
		.connectTimeout(Duration.ofSeconds(3))
		.version(HttpClient.Version.HTTP_1_1)
		.build();

	final BufferedWriter log;

	final String adminToken;

	final List<Sess> sessions = new ArrayList<>();

	volatile boolean stopping;

	volatile boolean sending = true;

	final double userRate, topicRate, authRate, directRate, chatRate, announceRate;

	final AtomicInteger faultSeq = new AtomicInteger();

	Soak(Map<String, String> a) throws IOException {
		this.ws = a.get("ws").split(",");
		this.http = a.get("http").split(",");
		this.secret = a.get("secret");
		this.users = Integer.parseInt(a.getOrDefault("users", "100"));
		this.anon = Integer.parseInt(a.getOrDefault("anon", "40"));
		this.random = new Random(Long.parseLong(a.getOrDefault("seed", "1")));
		this.userRate = Double.parseDouble(a.getOrDefault("user-rate", "7")); // per node
		this.topicRate = Double.parseDouble(a.getOrDefault("topic-rate", "0.4")); // per node
		this.authRate = Double.parseDouble(a.getOrDefault("auth-rate", "0.25")); // per node
		this.directRate = Double.parseDouble(a.getOrDefault("direct-rate", "8")); // total
		this.chatRate = Double.parseDouble(a.getOrDefault("chat-rate", "0.5")); // total
		this.announceRate = Double.parseDouble(a.getOrDefault("announce-rate", "0.5")); // total
		this.log = Files.newBufferedWriter(Path.of(a.get("events")), StandardCharsets.UTF_8);
		this.adminToken = Jwt.hs256(this.secret, "soak-admin", List.of("admin"), 24 * 3600);
	}

	public static void main(String[] argv) throws Exception {
		Map<String, String> a = new HashMap<>();
		for (int i = 0; i + 1 < argv.length; i += 2) {
			a.put(argv[i].substring(2), argv[i + 1]);
		}
		new Soak(a).run();
	}

	static long now() {
		return System.currentTimeMillis();
	}

	void event(String line) {
		synchronized (this.log) {
			try {
				this.log.write(line);
				this.log.write('\n');
			}
			catch (IOException ex) {
				throw new IllegalStateException(ex);
			}
		}
	}

	// ------------------------------------------------------------------ sessions

	/** One accounted session slot: a user's session (or an anonymous one) pinned to one node. */
	final class Sess {

		final int index;

		final String user; // null: anonymous

		final int node;

		final String token;

		int incarnation;

		int failures;

		volatile Conn current;

		/** The last stream-position seen per subscription index, over every connection of the slot. */
		final AtomicReferenceArray<String> lastPosition;

		Sess(int index, String user, int node) {
			this.index = index;
			this.user = user;
			this.node = node;
			this.lastPosition = new AtomicReferenceArray<>(((user == null) ? ANON_SUBS : AUTH_SUBS).length);
			this.token = (user == null) ? null : Jwt.hs256(Soak.this.secret, user, List.of("USER"), 24 * 3600);
		}

		void connect() {
			if (Soak.this.stopping) {
				return;
			}
			Conn c = new Conn(this, this.index + "#" + (++this.incarnation), this.node, this.token,
					(this.user == null) ? ANON_SUBS : AUTH_SUBS);
			this.current = c;
			c.onClosed = () -> {
				this.current = null;
				if (Soak.this.stopping) {
					return;
				}
				long delay = Math.min(8000, 250L << Math.min(5, this.failures++));
				delay = delay / 2 + ThreadLocalRandom.current().nextLong(delay / 2 + 1);
				Soak.this.timer.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
			};
			c.onReady = () -> this.failures = 0;
			c.open();
		}

	}

	/** One WebSocket connection speaking STOMP 1.2. */
	final class Conn extends SimpleChannelInboundHandler<WebSocketFrame> {

		final Sess sess; // null for fault connections

		final String id;

		final int node;

		final String token;

		final String[] subs;

		volatile Channel channel;

		volatile boolean ready;

		volatile boolean closed;

		volatile String error;

		int receipts;

		/** The resume-from each SUBSCRIBE carried, by subscription index ({@code null}: none). */
		final String[] resumedFrom;

		Runnable onReady = () -> {
		};

		Runnable onClosed = () -> {
		};

		Runnable onConnected = null;

		final CountDownLatch done = new CountDownLatch(1);

		final AtomicLong[] seqs = { new AtomicLong(), new AtomicLong(), new AtomicLong() };

		Conn(Sess sess, String id, int node, String token, String[] subs) {
			this.sess = sess;
			this.id = id;
			this.node = node;
			this.token = token;
			this.subs = subs;
			this.resumedFrom = new String[subs.length];
		}

		void open() {
			URI uri = URI.create(Soak.this.ws[this.node]);
			Conn self = this;
			event("B " + now() + " " + this.id + " " + this.node);
			Bootstrap b = new Bootstrap().group(Soak.this.group)
				.channel(NioSocketChannel.class)
				.option(ChannelOption.TCP_NODELAY, true)
				.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 5_000)
				.handler(new ChannelInitializer<SocketChannel>() {
					@Override
					protected void initChannel(SocketChannel ch) {
						ChannelPipeline p = ch.pipeline();
						p.addLast(new HttpClientCodec());
						p.addLast(new HttpObjectAggregator(65536));
						p.addLast(new WebSocketClientProtocolHandler(WebSocketClientHandshakerFactory.newHandshaker(uri,
								WebSocketVersion.V13, null, false, new DefaultHttpHeaders(), 1 << 20), true, false,
								10_000L));
						p.addLast(new WebSocketFrameAggregator(1 << 20));
						p.addLast(self);
					}
				});
			b.connect(new InetSocketAddress(uri.getHost(), uri.getPort())).addListener(f -> {
				if (!f.isSuccess()) {
					closed();
				}
				else {
					this.channel = ((io.netty.channel.ChannelFuture) f).channel();
				}
			});
		}

		@Override
		public boolean isSharable() {
			return false;
		}

		void send(String frame) {
			Channel ch = this.channel;
			if (ch != null && ch.isActive()) {
				ch.writeAndFlush(new TextWebSocketFrame(frame));
			}
		}

		@Override
		public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
			if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_COMPLETE) {
				this.channel = ctx.channel();
				ctx.writeAndFlush(new TextWebSocketFrame("CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:0,0\n"
						+ ((this.token == null) ? "" : "Authorization:Bearer " + this.token + "\n") + "\n\0"));
			}
			else if (evt == WebSocketClientProtocolHandler.ClientHandshakeStateEvent.HANDSHAKE_TIMEOUT) {
				ctx.close();
			}
			super.userEventTriggered(ctx, evt);
		}

		@Override
		protected void channelRead0(ChannelHandlerContext ctx, WebSocketFrame frame) {
			if (frame instanceof CloseWebSocketFrame) {
				ctx.close();
				return;
			}
			if (!(frame instanceof TextWebSocketFrame text)) {
				return;
			}
			String s = text.text();
			int start = 0;
			while (start < s.length()) { // one frame per message in practice; split on NUL to be safe
				int end = s.indexOf('\0', start);
				if (end < 0) {
					end = s.length();
				}
				String f = s.substring(start, end);
				start = end + 1;
				while (f.startsWith("\n") || f.startsWith("\r")) {
					f = f.substring(1);
				}
				if (!f.isEmpty()) {
					onFrame(ctx, f);
				}
			}
		}

		private void onFrame(ChannelHandlerContext ctx, String f) {
			if (f.startsWith("MESSAGE")) {
				int body = f.indexOf("\n\n");
				int a = f.indexOf('~', (body < 0) ? 0 : body);
				int b = (a < 0) ? -1 : f.indexOf('~', a + 1);
				String mid = (b < 0) ? "?" : f.substring(a + 1, b);
				String head = (body < 0) ? f : f.substring(0, body);
				String sub = header(head, "subscription");
				String position = header(head, "stream-position");
				String gap = header(head, "stream-gap");
				if (this.sess != null && !position.isEmpty()) {
					try {
						this.sess.lastPosition.set(Integer.parseInt(sub), position);
					}
					catch (RuntimeException ex) {
						// not one of ours: logged as is
					}
				}
				event("D " + now() + " " + this.id + " " + mid + " " + dash(sub) + " " + dash(position) + " "
						+ dash(gap));
			}
			else if (f.startsWith("RECEIPT")) {
				String rid = header(f, "receipt-id");
				if (rid.startsWith("r")) {
					String sub = rid.substring(1);
					String from = "-";
					try {
						from = dash(this.resumedFrom[Integer.parseInt(sub)]);
					}
					catch (RuntimeException ex) {
						// not one of ours
					}
					event("U " + now() + " " + this.id + " " + sub + " " + from + " " + dash(header(f, "recovered"))
							+ " " + dash(header(f, "recovered-count")));
				}
				if (++this.receipts == this.subs.length) {
					this.ready = true;
					event("R " + now() + " " + this.id + " " + this.node);
					this.onReady.run();
				}
			}
			else if (f.startsWith("CONNECTED")) {
				if (this.onConnected != null) {
					this.onConnected.run();
				}
				for (int i = 0; i < this.subs.length; i++) {
					String from = (this.sess != null) ? this.sess.lastPosition.get(i) : null;
					this.resumedFrom[i] = from;
					send("SUBSCRIBE\nid:" + i + "\ndestination:" + this.subs[i] + "\nreceipt:r" + i + "\n"
							+ ((from != null) ? "resume-from:" + from + "\n" : "") + "\n\0");
				}
				if (this.subs.length == 0) {
					this.ready = true;
					event("R " + now() + " " + this.id + " " + this.node);
					this.onReady.run();
				}
			}
			else if (f.startsWith("ERROR")) {
				String msg = header(f, "message");
				this.error = msg;
				event("E " + now() + " " + this.id + " " + msg.replace(' ', '_'));
			}
		}

		@Override
		public void channelInactive(ChannelHandlerContext ctx) throws Exception {
			closed();
			super.channelInactive(ctx);
		}

		@Override
		public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
			ctx.close();
		}

		synchronized void closed() {
			if (this.closed) {
				return;
			}
			this.closed = true;
			this.ready = false;
			event("X " + now() + " " + this.id);
			this.done.countDown();
			this.onClosed.run();
		}

	}

	static String dash(String value) {
		return (value == null || value.isEmpty()) ? "-" : value.replace(' ', '_');
	}

	static String header(String frame, String name) {
		for (String line : frame.split("\n")) {
			if (line.isEmpty()) {
				break;
			}
			if (line.startsWith(name + ":")) {
				return line.substring(name.length() + 1);
			}
		}
		return "";
	}

	// ------------------------------------------------------------------ traffic

	/** Sequential HTTP sends from one sender thread (class, node) at a fixed rate. */
	void httpSender(String cls, int node, double rate) {
		String sender = "h" + cls.charAt(0) + node;
		long seq = 0;
		int nextUser = node * 7 % this.users; // round-robin: every (origin node, user channel) pair is hit every users/rate s
		long period = (long) (1e9 / rate);
		long next = System.nanoTime();
		while (!this.stopping) {
			if (this.sending) {
				String target = "*";
				String path;
				String dest;
				if (cls.equals(USER_HTTP)) {
					target = "u" + nextUser;
					nextUser = (nextUser + 1) % this.users;
					path = "/api/messages/users/" + target;
					dest = "/queue/soak";
				}
				else if (cls.equals(TOPIC_HTTP)) {
					path = "/api/messages/all";
					dest = "/topic/soak";
				}
				else {
					path = "/api/messages/authenticated";
					dest = "/topic/soak-auth";
				}
				String id = sender + "." + (++seq);
				httpSend(id, cls, target, node, path, dest, "");
			}
			next += period;
			long wait = next - System.nanoTime();
			if (wait > 0) {
				sleepNanos(wait);
			}
			else if (wait < -5_000_000_000L) {
				next = System.nanoTime(); // far behind (node down): don't burst afterwards
			}
		}
	}

	int httpSend(String id, String cls, String target, int node, String path, String dest, String pad) {
		String body = "{\"destination\":\"" + dest + "\",\"payload\":{\"id\":\"~" + id + "~\",\"pad\":\"" + pad + "\"}}";
		long t0 = now();
		String status;
		int code = 0;
		try {
			HttpResponse<String> r = this.client.send(HttpRequest.newBuilder(URI.create(this.http[node] + path))
				.timeout(Duration.ofSeconds(5))
				.header("Content-Type", "application/json")
				.header("Authorization", "Bearer " + this.adminToken)
				.POST(HttpRequest.BodyPublishers.ofString(body))
				.build(), HttpResponse.BodyHandlers.ofString());
			code = r.statusCode();
			status = String.valueOf(code);
		}
		catch (Exception ex) {
			status = ex.getClass().getSimpleName();
		}
		if (cls != null) {
			event("S " + id + " " + cls + " " + target + " " + node + " " + t0 + " " + now() + " " + status);
		}
		return code;
	}

	static void sleepNanos(long nanos) {
		try {
			TimeUnit.NANOSECONDS.sleep(nanos);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	/** SENDs from random ready authenticated sessions: direct, chat, announce. */
	void controllerSender() {
		double[] rates = { this.directRate, this.chatRate, this.announceRate };
		String[] classes = { USER_CTRL, TOPIC_CTRL, AUTH_CTRL };
		String[] dests = { "/app/direct", "/app/chat", "/app/announce" };
		double[] credit = new double[3];
		long tick = 50;
		while (!this.stopping) {
			sleepNanos(tick * 1_000_000L);
			if (!this.sending) {
				continue;
			}
			for (int k = 0; k < 3; k++) {
				credit[k] += rates[k] * tick / 1000.0;
				while (credit[k] >= 1) {
					credit[k] -= 1;
					ctrlSend(k, classes[k], dests[k], null);
				}
			}
		}
	}

	void ctrlSend(int k, String cls, String dest, Sess from) {
		Sess s = from;
		for (int tries = 0; s == null && tries < 20; tries++) {
			Sess cand = this.sessions.get(ThreadLocalRandom.current().nextInt(this.users * 2));
			Conn c = cand.current;
			if (c != null && c.ready) {
				s = cand;
			}
		}
		if (s == null) {
			return;
		}
		Conn c = s.current;
		if (c == null || !c.ready) {
			return;
		}
		String id = "c" + cls.charAt(0) + ":" + c.id + "." + c.seqs[k].incrementAndGet();
		String target = "*";
		String body;
		if (k == 0) {
			target = "u" + ThreadLocalRandom.current().nextInt(this.users);
			body = "{\"to\":\"" + target + "\",\"text\":\"~" + id + "~\"}";
		}
		else {
			body = "{\"text\":\"~" + id + "~\"}";
		}
		long t = now();
		// logged before the write, so a delivery can never precede its send record
		event("S " + id + " " + cls + " " + target + " " + c.node + " " + t + " " + t + " SENT");
		c.send("SEND\ndestination:" + dest + "\ncontent-type:application/json\n\n" + body + "\0");
	}

	// ------------------------------------------------------------------ client faults

	String faultToken(String user, long ttlSeconds) {
		return Jwt.hs256(this.secret, user, List.of("USER"), ttlSeconds);
	}

	/** Opens a fault connection and waits (bounded) until it is ready; null if it did not get there. */
	Conn faultConn(String name, int node, String token, String[] subs) throws InterruptedException {
		Conn c = new Conn(null, name, node, token, subs);
		CountDownLatch ready = new CountDownLatch(1);
		c.onReady = ready::countDown;
		c.onClosed = ready::countDown;
		c.open();
		ready.await(15, TimeUnit.SECONDS);
		return c.ready ? c : null;
	}

	void kev(String fault, String phase, String detail) {
		event("K " + now() + " " + fault + " " + phase + " " + detail);
		OUT.println("FAULT " + now() + " " + fault + " " + phase + " " + detail);
		OUT.flush();
	}

	/** A client that stops reading while messages for it keep coming (16 KB each, via another node). */
	void slowReader(String fault, int node) throws Exception {
		String user = "slow" + this.faultSeq.incrementAndGet();
		Conn c = faultConn(fault, node, faultToken(user, 3600), new String[] { "/user/queue/soak" });
		if (c == null) {
			kev(fault, "failed", "not-ready");
			return;
		}
		double before = slowConsumers(node);
		c.channel.config().setAutoRead(false);
		kev(fault, "start", "node=" + node);
		String pad = "x".repeat(16 * 1024);
		int via = (node + 1) % this.ws.length;
		long deadline = now() + 60_000;
		int seq = 0;
		boolean cut = false;
		while (now() < deadline && !this.stopping) {
			for (int i = 0; i < 10; i++) {
				httpSend("slow." + (++seq), null, user, via, "/api/messages/users/" + user, "/queue/soak", pad);
			}
			if (slowConsumers(node) > before) {
				cut = true;
				break;
			}
			Thread.sleep(200);
		}
		kev(fault, cut ? "recovered" : "not-recovered", "pushed=" + seq);
		c.channel.close();
	}

	double slowConsumers(int node) {
		try {
			return NodeCounters.sum(NodeCounters.scrape(this.client, this.http[node]), "stomp_relay_slow_consumers_total",
					null);
		}
		catch (Exception ex) {
			return -1;
		}
	}

	/** A client that floods SEND frames (to a destination with no handler) until it is cut. */
	void flood(String fault, int node) throws Exception {
		String user = "flood" + this.faultSeq.incrementAndGet();
		Conn c = faultConn(fault, node, faultToken(user, 3600), new String[0]);
		if (c == null) {
			kev(fault, "failed", "not-ready");
			return;
		}
		kev(fault, "start", "node=" + node);
		for (int i = 0; i < 2000 && c.channel.isActive(); i++) {
			c.channel.write(new TextWebSocketFrame("SEND\ndestination:/app/flood\n\nflood " + i + "\0"));
			if (i % 100 == 99) {
				c.channel.flush();
			}
		}
		c.channel.flush();
		boolean cut = c.done.await(30, TimeUnit.SECONDS);
		kev(fault, cut ? "recovered" : "not-recovered", "error=" + ((c.error == null) ? "none" : c.error.replace(' ', '_')));
		c.channel.close();
	}

	/** A burst of malformed frames, each on its own connection: every one must be refused and closed. */
	void malformed(String fault, int node) throws Exception {
		String[] bad = { "FOO\n\n\0", "SEND\ndestination:/app/chat\ncontent-length:abc\n\nshort\0",
				"SUBSCRIBE\n\n\0", "SEND\ndestination\n\nx\0", "SEND\ndestination:/app/chat\n\n" + "y".repeat(100_000) + "\0",
				"SEND\ndestination:/topic/soak\n\n{\"text\":\"~forged.1~\"}\0", "SEND\ndestination:/app/chat\n\n{not json\0",
				"SUBSCRIBE\nid:9\ndestination:/user/u1/queue/soak\n\n\0", "binary" };
		List<Conn> conns = new ArrayList<>();
		kev(fault, "start", "node=" + node + " frames=" + bad.length);
		for (int i = 0; i < bad.length; i++) {
			Conn c = faultConn(fault + "." + i, node, faultToken("bad" + this.faultSeq.incrementAndGet(), 3600),
					new String[0]);
			if (c == null) {
				continue;
			}
			if (bad[i].equals("binary")) {
				byte[] junk = new byte[512];
				ThreadLocalRandom.current().nextBytes(junk);
				c.channel.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(junk)));
			}
			else {
				c.send(bad[i]);
			}
			conns.add(c);
		}
		int refused = 0;
		StringBuilder errors = new StringBuilder();
		for (Conn c : conns) {
			boolean closed = c.done.await(15, TimeUnit.SECONDS);
			refused += (closed || c.error != null) ? 1 : 0;
			errors.append(errors.length() == 0 ? "" : "|").append((c.error == null) ? (closed ? "closed" : "open") : c.error.replace(' ', '_'));
			c.channel.close();
		}
		kev(fault, (refused == conns.size() && conns.size() == bad.length) ? "recovered" : "not-recovered",
				"refused=" + refused + "/" + bad.length + " errors=" + errors);
	}

	/** A session whose token expires 4 s after it connected: the server must send ERROR and close it. */
	void expire(String fault, int node) throws Exception {
		String user = "exp" + this.faultSeq.incrementAndGet();
		long exp = (now() / 1000 + 5) * 1000;
		Conn c = faultConn(fault, node, faultToken(user, 5), new String[] { "/user/queue/soak", "/topic/soak" });
		if (c == null) {
			kev(fault, "failed", "not-ready");
			return;
		}
		kev(fault, "start", "node=" + node + " exp=" + exp);
		boolean closed = c.done.await(40, TimeUnit.SECONDS);
		kev(fault, (closed && c.error != null) ? "recovered" : "not-recovered",
				"error=" + ((c.error == null) ? "none" : c.error.replace(' ', '_')) + " after_exp_ms=" + (now() - exp));
		c.channel.close();
	}

	/**
	 * One message per (origin node, user channel) and per (origin node, topic channel), so that a gap
	 * left at the end of the run is seen and counted by the receiving node (a gap is only found with
	 * the next message of the same origin on the same channel).
	 */
	void sweep() throws Exception {
		List<Thread> threads = new ArrayList<>();
		for (int n = 0; n < this.http.length; n++) {
			int node = n;
			Thread t = new Thread(() -> {
				for (int u = 0; u < this.users; u++) {
					httpSend("hsw" + node + "." + (u + 1), USER_HTTP, "u" + u, node, "/api/messages/users/u" + u,
							"/queue/soak", "");
				}
				httpSend("hsw" + node + "t.1", TOPIC_HTTP, "*", node, "/api/messages/all", "/topic/soak", "");
				httpSend("hsw" + node + "a.1", AUTH_HTTP, "*", node, "/api/messages/authenticated", "/topic/soak-auth", "");
			});
			t.start();
			threads.add(t);
		}
		for (Thread t : threads) {
			t.join();
		}
		// chat and announcements: one from a ready session on each node
		for (int n = 0; n < this.ws.length; n++) {
			for (Sess s : this.sessions) {
				Conn c = s.current;
				if (s.user != null && s.node == n && c != null && c.ready) {
					ctrlSend(1, TOPIC_CTRL, "/app/chat", s);
					ctrlSend(2, AUTH_CTRL, "/app/announce", s);
					break;
				}
			}
		}
	}

	// ------------------------------------------------------------------ run

	void run() throws Exception {
		int nodes = this.ws.length;
		for (int u = 0; u < this.users; u++) { // user u: one session on node u, one on node u+1
			this.sessions.add(new Sess(2 * u, "u" + u, u % nodes));
			this.sessions.add(new Sess(2 * u + 1, "u" + u, (u + 1) % nodes));
		}
		for (int i = 0; i < this.anon; i++) {
			this.sessions.add(new Sess(2 * this.users + i, null, i % nodes));
		}
		for (Sess s : this.sessions) {
			s.connect();
			Thread.sleep(5);
		}
		Thread status = new Thread(() -> {
			while (!this.stopping) {
				int[] ready = new int[nodes];
				int total = 0;
				for (Sess s : this.sessions) {
					Conn c = s.current;
					if (c != null && c.ready) {
						ready[s.node]++;
						total++;
					}
				}
				StringBuilder b = new StringBuilder("STATUS " + now() + " " + total + " " + this.sessions.size());
				for (int r : ready) {
					b.append(' ').append(r);
				}
				OUT.println(b);
				OUT.flush();
				synchronized (this.log) {
					try {
						this.log.flush();
					}
					catch (IOException ex) {
						// reported at close
					}
				}
				sleepNanos(1_000_000_000L);
			}
		}, "status");
		status.setDaemon(true);
		status.start();
		List<Thread> senders = new ArrayList<>();
		for (int n = 0; n < nodes; n++) {
			int node = n;
			senders.add(new Thread(() -> httpSender(USER_HTTP, node, this.userRate), "http-user-" + n));
			senders.add(new Thread(() -> httpSender(TOPIC_HTTP, node, this.topicRate), "http-topic-" + n));
			senders.add(new Thread(() -> httpSender(AUTH_HTTP, node, this.authRate), "http-auth-" + n));
		}
		senders.add(new Thread(this::controllerSender, "ctrl"));
		this.sending = false;
		for (Thread t : senders) {
			t.setDaemon(true);
			t.start();
		}
		OUT.println("STARTED " + now());
		OUT.flush();
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		String line;
		while ((line = in.readLine()) != null) {
			String[] p = line.trim().split(" ");
			switch (p[0]) {
				case "traffic" -> this.sending = p[1].equals("on");
				case "slow", "flood", "malformed", "expire" -> {
					String fault = p[0] + "-" + p[1];
					int node = Integer.parseInt(p[2]);
					Thread t = new Thread(() -> {
						try {
							switch (p[0]) {
								case "slow" -> slowReader(fault, node);
								case "flood" -> flood(fault, node);
								case "malformed" -> malformed(fault, node);
								default -> expire(fault, node);
							}
						}
						catch (Exception ex) {
							kev(fault, "failed", ex.toString().replace(' ', '_'));
						}
					}, "fault-" + fault);
					t.setDaemon(true);
					t.start();
				}
				case "sweep" -> {
					this.sending = false;
					sweep();
					OUT.println("SWEPT " + now());
					OUT.flush();
				}
				case "stop" -> {
					this.stopping = true;
					for (Sess s : this.sessions) {
						Conn c = s.current;
						if (c != null && c.channel != null) {
							c.channel.close();
						}
					}
					Thread.sleep(500);
					synchronized (this.log) {
						this.log.flush();
						this.log.close();
					}
					this.group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
					this.timer.shutdownNow();
					OUT.println("STOPPED " + now());
					OUT.flush();
					System.exit(0);
				}
				default -> OUT.println("unknown command " + line);
			}
		}
		System.exit(2);
	}

}
