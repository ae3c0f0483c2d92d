package io.stomprelay.connection;

import org.apache.coyote.Processor;
import org.apache.coyote.UpgradeToken;
import org.apache.coyote.http11.Http11NioProtocol;
import org.apache.tomcat.util.net.ApplicationBufferHandler;
import org.apache.tomcat.util.net.SocketWrapperBase;

/**
 * Tomcat's NIO HTTP/1.1 protocol, except that a connection upgraded to WebSocket lets go of the
 * HTTP processor that served its upgrade request. Tomcat (11.0.22, and its main branch as of this
 * writing) leaves the socket's application read-buffer handler pointing at that processor's input
 * buffer for the life of the connection: when the processor is not reused (its cache was full, or
 * nothing else reuses it), every WebSocket connection keeps a whole processor alive, about 60 KB
 * with its request and response buffers. After a burst of handshakes that is one processor per
 * handshake that ran at the same time: 220-250 processors, 12-15 MB of heap, after the benchmark
 * opened 10,000 connections 200 at a time. The handler only serves to grow a TLS read buffer while
 * HTTP is parsed; the WebSocket frame reader reads into its own buffer, so the upgraded
 * connection gets Tomcat's empty handler instead.
 */
public class UpgradeReleasingNioProtocol extends Http11NioProtocol {

	@Override
	protected Processor createUpgradeProcessor(SocketWrapperBase<?> socket, UpgradeToken upgradeToken) {
		socket.setAppReadBufHandler(ApplicationBufferHandler.EMPTY);
		return super.createUpgradeProcessor(socket, upgradeToken);
	}

}
