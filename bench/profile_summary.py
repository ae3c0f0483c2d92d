#!/usr/bin/env python3
"""Summarises a JFR recording of a product node into one JSON line for results.jsonl.

usage: profile_summary.py <recording.jfr> <system> <workload> <rate>

Reads the Java execution samples (`jfr print --json --events jdk.ExecutionSample`) and counts:
  * categories: the share of samples whose stack (the 32 frames nearest the leaf) is inside each
    part of the message's path (a sample can be in several, e.g. STOMP encoding inside a WebSocket
    send);
  * the leaf methods (where the CPU actually was);
  * the threads, with digits folded (http-nio-N-exec-N).
"""
import collections
import json
import re
import subprocess
import sys

DEPTH = 32

# (label, substrings of "class.method" of any frame)
CATEGORIES = [
    ("STOMP encoding (StompEncoder)", ("simp.stomp.StompEncoder",)),
    ("STOMP decoding (StompDecoder)", ("simp.stomp.StompDecoder", "BufferingStompDecoder")),
    ("message header maps (MessageHeaderAccessor, MessageHeaders copies)",
     ("support.MessageHeaderAccessor", "support.NativeMessageHeaderAccessor", "messaging.MessageHeaders.",
      "SimpMessageHeaderAccessor", "StompHeaderAccessor")),
    ("WebSocket send (Tomcat WsRemoteEndpoint)", ("tomcat.websocket.WsRemoteEndpoint",)),
    ("WebSocket receive (Tomcat WsFrame)", ("tomcat.websocket.WsFrame",)),
    ("socket syscalls (sun.nio.ch)", ("sun.nio.ch.",)),
    ("Redis client (Lettuce + Netty)", ("io.lettuce.", "io.netty.")),
    ("relay envelope codec", ("io.stomprelay.relay.EnvelopeCodec",)),
    ("relay delivery (RemoteDelivery, DeliveryLanes)", ("io.stomprelay.relay.RemoteDelivery", "io.stomprelay.relay.DeliveryLanes")),
    ("relay publish (ClusterRelayInterceptor, RedisRelayBus)", ("io.stomprelay.relay.ClusterRelayInterceptor", "io.stomprelay.relay.RedisRelayBus")),
    ("simple broker (subscription lookup and send)", ("simp.broker.",)),
    ("user destination resolution", ("simp.user.UserDestinationMessageHandler", "simp.user.DefaultUserDestinationResolver")),
    ("Spring Security channel interceptors", ("org.springframework.security.",)),
    ("JSON (Jackson)", ("tools.jackson.", "com.fasterxml.jackson.")),
    ("metrics (Micrometer)", ("io.micrometer.",)),
    ("logging", ("ch.qos.logback.", "org.slf4j.")),
    ("benchmark publisher (loadtest, not in production)", ("io.stomprelay.loadtest.",)),
]


def frame_name(frame):
    method = frame.get("method") or {}
    cls = (method.get("type") or {}).get("name", "?")
    return f"{cls.replace('/', '.')}.{method.get('name', '?')}"


def main():
    path, system, workload, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    text = subprocess.run(["jfr", "print", "--json", "--stack-depth", str(DEPTH), "--events", "jdk.ExecutionSample", path],
                          capture_output=True, text=True, check=True).stdout
    events = json.loads(text)["recording"]["events"]
    categories = collections.Counter()
    leaves = collections.Counter()
    threads = collections.Counter()
    for event in events:
        values = event.get("values", {})
        frames = [frame_name(f) for f in ((values.get("stackTrace") or {}).get("frames") or [])]
        thread = ((values.get("sampledThread") or {}).get("javaName")) or "?"
        threads[re.sub(r"\d+", "N", thread)] += 1
        if frames:
            leaves[frames[0]] += 1
        for label, needles in CATEGORIES:
            if any(n in f for f in frames for n in needles):
                categories[label] += 1
    total = len(events)
    print(json.dumps({
        "system": system, "phase": "profile", "workload": workload, "rate": rate, "samples": total,
        "stack_depth": DEPTH, "recording": path,
        "categories": [[label, categories[label]] for label, _ in CATEGORIES if categories[label]],
        "top_methods": leaves.most_common(15),
        "threads": threads.most_common(10),
    }))


if __name__ == "__main__":
    main()
