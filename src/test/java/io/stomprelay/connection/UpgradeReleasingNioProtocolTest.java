package io.stomprelay.connection;

import org.apache.coyote.Processor;
import org.apache.coyote.UpgradeToken;
import org.apache.coyote.http11.upgrade.UpgradeProcessorInternal;
import org.apache.tomcat.util.net.ApplicationBufferHandler;
import org.apache.tomcat.util.net.SocketWrapperBase;
import org.apache.tomcat.websocket.server.WsHttpUpgradeHandler;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;

/**
 * An upgraded connection's socket no longer points at the input buffer of the HTTP processor that
 * served its upgrade (which kept that processor, ~60 KB, alive for the connection's life).
 */
class UpgradeReleasingNioProtocolTest {

	@Test
	void theUpgradedSocketGetsTheEmptyReadBufferHandler() {
		SocketWrapperBase<?> socket = mock(SocketWrapperBase.class);
		UpgradeToken token = new UpgradeToken(new WsHttpUpgradeHandler(), null, null, "websocket");

		Processor processor = new UpgradeReleasingNioProtocol().createUpgradeProcessor(socket, token);

		verify(socket).setAppReadBufHandler(ApplicationBufferHandler.EMPTY);
		assertThat(processor).isInstanceOf(UpgradeProcessorInternal.class);
	}

}
