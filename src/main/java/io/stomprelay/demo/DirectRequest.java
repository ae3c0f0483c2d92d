package io.stomprelay.demo;

/**
 * SEND {@code /app/direct}.
 *
 * @param to the recipient's user name
 * @param text the text
 */
record DirectRequest(String to, String text) {
}
