#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""xfer: move a file over one TCP connection and report its SHA-256, so a
test can prove payload integrity end to end through the emulated offload
NIC (flowgen sends zeros and only counts bytes).

  xfer.py send (--listen|--connect) -a ADDR -p PORT -f FILE [-P SPORT]
          [-b BYTES]... [-w] [-t TIMEOUT]
  xfer.py recv (--listen|--connect) -a ADDR -p PORT [-P SPORT] [-t TIMEOUT]

send prints "sent BYTES SHA256" at the end; with -w it prints "paused at
BYTES" at each -b offset and waits for a line on stdin (EOF counts too), so a
test can inspect the live flow.  recv prints "received BYTES SHA256" after the
peer closed its side.  Exit 2 on timeout, 1 on other errors.
"""
import argparse
import hashlib
import select
import socket
import sys
import time


def fail(msg, code=1):
    print("xfer: " + msg, file=sys.stderr)
    sys.exit(code)


def open_socket(args):
    infos = socket.getaddrinfo(args.addr, args.port, type=socket.SOCK_STREAM,
                               flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
    family, stype, proto, _, sockaddr = infos[0]
    s = socket.socket(family, stype, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(max(0.1, args.deadline - time.monotonic()))
    if args.listen:
        s.bind(sockaddr)
        s.listen(1)
        print("listening %s port %d" % (args.addr, args.port), flush=True)
        try:
            c, _ = s.accept()
        except socket.timeout:
            fail("timeout waiting for a connection", 2)
        s.close()
        return c
    if args.sport:
        s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", args.sport))
    try:
        s.connect(sockaddr)
    except socket.timeout:
        fail("timeout connecting", 2)
    print("connected", flush=True)
    return s


def remaining(args):
    left = args.deadline - time.monotonic()
    if left <= 0:
        fail("timeout", 2)
    return left


def do_send(args, s):
    pauses = sorted(set(args.boundary))
    h = hashlib.sha256()
    total = 0
    with open(args.file, "rb") as f:
        while True:
            limit = 65536
            if pauses and args.wait:
                limit = min(limit, pauses[0] - total)
            chunk = f.read(limit) if limit > 0 else b""
            if limit > 0 and not chunk:
                break
            if chunk:
                s.settimeout(remaining(args))
                try:
                    s.sendall(chunk)
                except socket.timeout:
                    fail("timeout sending", 2)
                h.update(chunk)
                total += len(chunk)
            if pauses and total >= pauses[0]:
                pauses.pop(0)
                if args.wait:
                    print("paused at %d" % total, flush=True)
                    r, _, _ = select.select([sys.stdin], [], [], remaining(args))
                    if not r:
                        fail("timeout waiting on stdin", 2)
                    sys.stdin.readline()
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver's close so the FIN exchange ends inside our bound.
    s.settimeout(remaining(args))
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        fail("timeout waiting for the peer's close", 2)
    s.close()
    print("sent %d %s" % (total, h.hexdigest()), flush=True)


def do_recv(args, s):
    h = hashlib.sha256()
    total = 0
    while True:
        s.settimeout(remaining(args))
        try:
            data = s.recv(262144)
        except socket.timeout:
            fail("timeout receiving (got %d bytes)" % total, 2)
        if not data:
            break
        h.update(data)
        total += len(data)
    s.close()
    print("received %d %s" % (total, h.hexdigest()), flush=True)


def main():
    p = argparse.ArgumentParser(description="TCP transfer with a SHA-256 of the payload")
    p.add_argument("mode", choices=("send", "recv"))
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--listen", action="store_true")
    g.add_argument("--connect", action="store_true")
    p.add_argument("-a", dest="addr", required=True)
    p.add_argument("-p", dest="port", type=int, required=True)
    p.add_argument("-P", dest="sport", type=int, default=0)
    p.add_argument("-f", dest="file")
    p.add_argument("-b", dest="boundary", type=int, action="append", default=[])
    p.add_argument("-w", dest="wait", action="store_true")
    p.add_argument("-t", dest="timeout", type=float, default=120.0)
    args = p.parse_args()
    if args.mode == "send" and not args.file:
        p.error("send needs -f FILE")
    args.deadline = time.monotonic() + args.timeout
    s = open_socket(args)
    if args.mode == "send":
        do_send(args, s)
    else:
        do_recv(args, s)


if __name__ == "__main__":
    main()
