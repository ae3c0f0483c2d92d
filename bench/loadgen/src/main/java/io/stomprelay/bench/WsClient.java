package io.stomprelay.bench;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultHttpHeaders;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketClientHandshakerFactory;
import io.netty.handler.codec.http.websocketx.WebSocketClientProtocolHandler;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.http.websocketx.WebSocketVersion;
import io.netty.handler.codec.http.websocketx.extensions.compression.WebSocketClientCompressionHandler;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.function.Supplier;

/**
 * Netty WebSocket client: a small fixed event-loop group shared by all sessions so the
 * generator stays cheap. permessage-deflate is offered only when {@code deflate} is set.
 */
final class WsClient implements AutoCloseable {

	private final EventLoopGroup group;
	private final Protocol protocol;
	private final boolean deflate;
	private final Supplier<RunState> current;

	WsClient(int threads, Protocol protocol, boolean deflate, Supplier<RunState> current) {
		this.group = new MultiThreadIoEventLoopGroup(threads, NioIoHandler.newFactory());
		this.protocol = protocol;
		this.deflate = deflate;
		this.current = current;
	}

	EventLoopGroup group() {
		return this.group;
	}

	/** Opens the session's connection; {@code session.ready} completes once it is authenticated. */
	ChannelFuture connect(Session session, String sourceIp, boolean subscribe) {
		URI uri = URI.create(session.url);
		Bootstrap b = new Bootstrap().group(this.group)
			.channel(NioSocketChannel.class)
			.option(ChannelOption.TCP_NODELAY, true)
			.option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 15_000)
			.handler(new ChannelInitializer<SocketChannel>() {
				@Override
				protected void initChannel(SocketChannel ch) {
					ChannelPipeline p = ch.pipeline();
					p.addLast(new HttpClientCodec());
					p.addLast(new HttpObjectAggregator(65536));
					if (WsClient.this.deflate) {
						p.addLast(new WebSocketClientCompressionHandler(0));
					}
					p.addLast(new WebSocketClientProtocolHandler(WebSocketClientHandshakerFactory.newHandshaker(uri,
							WebSocketVersion.V13, null, WsClient.this.deflate, new DefaultHttpHeaders(), 1 << 20), true,
							false, 30_000L));
					p.addLast(new WebSocketFrameAggregator(1 << 20));
					p.addLast(new FrameHandler(session, WsClient.this.protocol, WsClient.this.current, subscribe));
				}
			});
		InetSocketAddress remote = new InetSocketAddress(uri.getHost(), uri.getPort());
		ChannelFuture f = (sourceIp == null) ? b.connect(remote) : b.connect(remote, new InetSocketAddress(sourceIp, 0));
		session.channel = f.channel();
		f.addListener(done -> {
			if (!done.isSuccess()) {
				session.ready.completeExceptionally(done.cause());
			}
		});
		return f;
	}

	@Override
	public void close() {
		this.group.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
	}

}
