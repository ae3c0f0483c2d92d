package io.stomprelay.support;

import java.util.List;

import org.springframework.messaging.support.ChannelInterceptor;

/**
 * Where interceptors sit in a channel's chain, for wiring tests.
 */
public final class ChannelInterceptors {

	private ChannelInterceptors() {
	}

	/** @return the position of the first interceptor of this type, or -1 */
	public static int indexOf(List<ChannelInterceptor> interceptors, Class<?> type) {
		for (int i = 0; i < interceptors.size(); i++) {
			if (type.isInstance(interceptors.get(i))) {
				return i;
			}
		}
		return -1;
	}

}
