package io.stomprelay.demo;

/**
 * SEND {@code /app/chat} and {@code /app/announce}.
 *
 * @param text the text
 */
record ChatRequest(String text) {
}
