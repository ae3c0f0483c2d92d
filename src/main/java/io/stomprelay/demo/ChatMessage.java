package io.stomprelay.demo;

/**
 * What chat, direct and announcement subscribers receive.
 *
 * @param from the sender's user name
 * @param text the text
 * @param node the node that handled the send
 * @param ts when (epoch millis)
 */
record ChatMessage(String from, String text, String node, long ts) {
}
