#!/usr/bin/env python3
"""Raw clients that try to hold m2mtokend's sockets
(test_m2mtokend_dos.sh; run as another uid than the good client's).

    mtd_dos.py p11 SOCKET N silent|hello WAIT
    mtd_dos.py flow SOCKET N WAIT
    mtd_dos.py trickle SOCKET WAIT

p11: N connections to the client-mode socket, one after the other; each
sends nothing (silent) or a HELLO (hello).  A connection the daemon
refuses (an error frame within 0.2 s of the connect, or of the HELLO)
prints "REFUSED <name>: <reason>"; the others are held: "HELD <n>",
then "READY".  Then each held one waits (all together at most WAIT s)
for the daemon to end it: "ENDED <name>: <reason> after <s> s", "EOF
after <s> s", or "OPEN" when nothing came.
flow: N connections to the flow socket, each asking Status; "HELD <n>"
for those answered, "REFUSED" for each closed at once; "READY"; all held
WAIT s, then closed.
trickle: one flow connection that sends a blank (inside a frame) every
0.5 s: "CLOSED after <s> s" once the daemon closes it, "OPEN after <s>
s" when it is still open after WAIT s.
Exits 0; 1 with a line on stderr when the socket cannot be reached.
"""
import select
import socket
import struct
import sys
import time

NAMES = {1: "version", 2: "malformed", 3: "too-big", 4: "order",
         5: "stalled", 6: "busy", 7: "internal", 8: "denied"}
MAGIC = b"m2mtoken-p11"
STATUS = b'{"method":"io.m2mtoken.Status"}\0'


def out(line):
    print(line, flush=True)


def conn(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
    except OSError as e:
        print("cannot connect to %s: %s" % (path, e), file=sys.stderr)
        sys.exit(1)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        try:
            b = s.recv(n - len(buf))
        except (ConnectionResetError, socket.timeout):
            return None
        if not b:
            return None
        buf += b
    return buf


def frame(s):
    """(code, body) of the next frame, or None at EOF."""
    h = recv_exact(s, 12)
    if h is None:
        return None
    ln, _fid, code = struct.unpack(">III", h)
    body = recv_exact(s, ln) if ln else b""
    return code, body if body is not None else b""


def readable(s, wait):
    r, _w, _x = select.select([s], [], [], wait)
    return bool(r)


def p11(path, n, mode, wait):
    held = []
    for _ in range(n):
        s = conn(path)
        if mode == "hello":
            try:
                s.sendall(struct.pack(">III", 17, 1, 0) + MAGIC +
                          struct.pack(">HHB", 1, 0, 8))
            except (BrokenPipeError, ConnectionResetError):
                pass    # refused and closed already: its frame is there
        if readable(s, 0.2):
            f = frame(s)
            if f is None:
                out("REFUSED eof")
                s.close()
                continue
            if f[0] != 0:
                out("REFUSED %s: %s" % (NAMES.get(f[0], f[0]),
                                        f[1].decode("utf-8", "replace")))
                s.close()
                continue
        held.append(s)
    out("HELD %d" % len(held))
    out("READY")
    t0 = time.monotonic()
    for s in held:
        left = wait - (time.monotonic() - t0)
        if left <= 0 or not readable(s, left):
            out("OPEN")
            continue
        f = frame(s)
        took = time.monotonic() - t0
        if f is None:
            out("EOF after %.1f s" % took)
        else:
            out("ENDED %s: %s after %.1f s" % (
                NAMES.get(f[0], f[0]), f[1].decode("utf-8", "replace"),
                took))
    for s in held:
        s.close()


def flow(path, n, wait):
    held = []
    for _ in range(n):
        s = conn(path)
        try:
            s.sendall(STATUS)
            got = s.recv(65536)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            got = b""
        if got:
            held.append(s)
        else:
            out("REFUSED")
            s.close()
    out("HELD %d" % len(held))
    out("READY")
    time.sleep(wait)
    for s in held:
        s.close()


def trickle(path, wait):
    s = conn(path)
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait:
        try:
            s.send(b" ")
        except (BrokenPipeError, ConnectionResetError):
            break
        if readable(s, 0.2):
            try:
                if s.recv(1) == b"":
                    break
            except ConnectionResetError:
                break
    took = time.monotonic() - t0
    out("%s after %.1f s" % ("OPEN" if took >= wait else "CLOSED", took))
    s.close()


if sys.argv[1] == "p11":
    p11(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
elif sys.argv[1] == "flow":
    flow(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
elif sys.argv[1] == "trickle":
    trickle(sys.argv[2], float(sys.argv[3]))
else:
    print("mode: p11 | flow | trickle", file=sys.stderr)
    sys.exit(2)
