package io.stomprelay.connection;

import org.junit.jupiter.api.Test;

import org.springframework.web.socket.WebSocketSession;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.ArgumentMatchers.anyInt;

class ConnectionBuffersTest {

	@Test
	void refusesBuffersTooSmallForAControlFrame() {
		assertThatIllegalArgumentException().isThrownBy(() -> new ConnectionBuffers(100))
			.withMessageContaining("stomp-relay.limits.connection-buffer must be at least 256 bytes, was 100");
	}

	@Test
	void keepsTheConfiguredSize() {
		assertThat(new ConnectionBuffers(1024).bytes()).isEqualTo(1024);
	}

	@Test
	void keepsTheBinaryMessageBufferAtTheMinimumWhateverTheSize() {
		assertThat(new ConnectionBuffers(1024).binaryBytes()).isEqualTo(256);
		assertThat(new ConnectionBuffers(65_536).binaryBytes()).isEqualTo(256);
		assertThat(new ConnectionBuffers(65_536).textChars()).isEqualTo(32_768);
		assertThat(new ConnectionBuffers(65_536).socketWriteBytes()).isEqualTo(256);
	}

	@Test
	void sessionIgnoresSpringsRaiseOfItsMessageBuffers() {
		WebSocketSession session = mock(WebSocketSession.class);
		ConnectionBuffers.FixedMessageBufferSession fixed = new ConnectionBuffers.FixedMessageBufferSession(session);

		fixed.setTextMessageSizeLimit(16_640);
		fixed.setBinaryMessageSizeLimit(16_640);

		verify(session, never()).setTextMessageSizeLimit(anyInt());
		verify(session, never()).setBinaryMessageSizeLimit(anyInt());
	}

}
