#!/usr/bin/env python3
"""UDP traffic through a router, between network namespaces of this host.

  traffic.py recv ADDR PORT SECONDS          prints JSON: received, latency percentiles
  traffic.py send DST PORT RATE_PPS SECONDS  prints JSON: sent, achieved rate

Each packet carries its send time (CLOCK_MONOTONIC, one clock for all namespaces of
a host), so the receiver measures one-way latency. Traffic goes only to addresses of
namespaces made on this machine.
"""
import json
import socket
import struct
import sys
import time


def recv(addr, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((addr, int(port)))
    s.settimeout(0.2)
    lat = []
    end = time.monotonic() + float(seconds)
    while time.monotonic() < end:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        if len(data) >= 8:
            lat.append(time.monotonic_ns() - struct.unpack("!Q", data[:8])[0])
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))] / 1e6, 3) if lat else None
    print(json.dumps({"received": len(lat), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
                      "p99_ms": pct(0.99), "max_ms": pct(1.0)}))


def send(dst, port, rate, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rate, seconds = float(rate), float(seconds)
    pad = b"\0" * 10  # 18 bytes of payload: a 64-byte frame on the wire
    t0 = time.monotonic()
    n = 0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        due = int((now - t0) * rate) + 1
        while n < due:
            try:
                s.sendto(struct.pack("!Q", time.monotonic_ns()) + pad, (dst, int(port)))
            except OSError:
                pass  # a full socket buffer counts as loss, as on a wire
            n += 1
        time.sleep(0.0005)
    print(json.dumps({"sent": n, "rate_pps": round(n / (time.monotonic() - t0))}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"recv": recv, "send": send}[cmd](*args)
