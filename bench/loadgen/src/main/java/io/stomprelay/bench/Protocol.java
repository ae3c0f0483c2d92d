package io.stomprelay.bench;

/** The wire protocol spoken on top of the WebSocket. */
enum Protocol {

	/** STOMP 1.2 frames, one per WebSocket text message (Spring, stomp-relay, RabbitMQ relay). */
	STOMP,

	/** engine.io v4 / socket.io v5 packets over the websocket transport only (socket.io 4 server). */
	SOCKETIO

}
