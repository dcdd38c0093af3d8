#!/usr/bin/env python3
"""Raw-socket checks of m2mtokend's framing (test_m2mtokend.sh).

    mtd_frames.py SOCKET IDLE_SECONDS MAX_CONNECTIONS

Malformed frames get their error and the connection goes on; an oversized
frame gets FrameTooLarge and the connection is closed; a truncated frame
leaves the daemon serving; a client stalled inside a frame does not delay
another, and is closed after the idle timeout; a frame sent one byte at a
time is served; 40 frames in one write are all answered; past MAX_CONNECTIONS a new connection is closed at once
and the daemon serves again once the others are gone.  Prints one "ok:" line per check, exits 1 on the first
failure.
"""
import json
import socket
import sys
import time

SOCK = sys.argv[1]
IDLE = float(sys.argv[2])
MAXC = int(sys.argv[3])


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s


PENDING = {}


def recv_frame(s):
    buf = PENDING.get(s, b"")
    while b"\0" not in buf:
        b = s.recv(65536)
        if not b:
            raise SystemExit("FAIL: connection closed before a reply")
        buf += b
    frame, _, PENDING[s] = buf.partition(b"\0")
    return json.loads(frame.decode())


def call(s, frame):
    s.sendall(frame)
    return recv_frame(s)


def expect_error(reply, name, what):
    if reply.get("error") != name:
        raise SystemExit(f"FAIL: {what}: expected {name}, got {reply}")
    if "reason" not in reply.get("parameters", {}):
        raise SystemExit(f"FAIL: {what}: no reason in {reply}")
    print(f"ok: {what}: {name}")


STATUS = b'{"method":"io.m2mtoken.Status"}\0'

# malformed frames, each answered, the connection kept
s = conn()
for frame, name, what in [
    (b"{not json}\0", "io.m2mtoken.InvalidFrame", "not JSON"),
    (b"[1,2]\0", "io.m2mtoken.InvalidFrame", "not an object"),
    (b'{"method":"io.m2mtoken.Status","x":1}\0', "io.m2mtoken.InvalidFrame",
     "unknown member"),
    (b'{"method":"io.m2mtoken.Status","parameters":[]}\0',
     "io.m2mtoken.InvalidFrame", "parameters not an object"),
    (b'{"method":"io.m2mtoken.Nope"}\0', "io.m2mtoken.MethodNotFound",
     "unknown method"),
    (b'{"method":"io.m2mtoken.Status","parameters":{"x":1}}\0',
     "io.m2mtoken.InvalidParameter", "unknown parameter"),
    (b'{"method":"io.m2mtoken.Mic","parameters":{"key":5}}\0',
     "io.m2mtoken.InvalidParameter", "key not a string"),
    (b'{"method":"io.m2mtoken.Mic","parameters":{"key":"k","data":"@@"}}\0',
     "io.m2mtoken.InvalidParameter", "data not base64"),
    (b"\xff\xfe\0", "io.m2mtoken.InvalidFrame", "not UTF-8"),
]:
    expect_error(call(s, frame), name, what)
r = call(s, STATUS)
if "error" in r or "token" not in r["parameters"]:
    raise SystemExit(f"FAIL: Status after bad frames: {r}")
print("ok: the connection serves a call after bad frames")
s.close()

# one byte at a time, two frames
s = conn()
for b in STATUS + STATUS:
    s.send(bytes([b]))
    time.sleep(0.001)
for _ in range(2):
    r = recv_frame(s)
    if "error" in r:
        raise SystemExit(f"FAIL: byte-wise frame: {r}")
print("ok: two frames sent one byte at a time")
s.close()

# 40 frames in one write (more than the daemon serves per wakeup, 16), a
# malformed one among them: every one answered, in order, with nothing more
# sent on the socket (the rest of the burst is read ahead, not left for
# epoll to report)
s = conn()
burst = [STATUS] * 40
burst[17] = b"{not json}\0"
s.sendall(b"".join(burst))
for i in range(40):
    r = recv_frame(s)
    if i == 17:
        expect_error(r, "io.m2mtoken.InvalidFrame", "malformed frame 18 of a burst")
    elif "error" in r or "token" not in r["parameters"]:
        raise SystemExit(f"FAIL: frame {i + 1} of a burst: {r}")
print("ok: 40 frames in one write, all answered in order")
s.close()

# oversized: FrameTooLarge, then closed
s = conn()
try:
    s.sendall(b"{" + b" " * 70000)
except (BrokenPipeError, ConnectionResetError):
    pass
r = recv_frame(s)
expect_error(r, "io.m2mtoken.FrameTooLarge", "oversized frame")
try:
    rest = s.recv(10)
except ConnectionResetError:
    rest = b""	# closed with our unread bytes in its buffer: a reset
if rest != b"":
    raise SystemExit("FAIL: connection not closed after FrameTooLarge")
print("ok: closed after an oversized frame")
s.close()

# truncated: the daemon goes on
s = conn()
s.sendall(b'{"method":"io.m2mtoken.Sta')
s.close()
s = conn()
if "error" in call(s, STATUS):
    raise SystemExit("FAIL: Status after a truncated frame")
print("ok: served after a peer closed inside a frame")
s.close()

# a stalled client does not delay another, and is closed when idle
stalled = conn()
stalled.sendall(b'{"method":"io.m2mtoken.Status","param')
t0 = time.monotonic()
other = conn()
r = call(other, STATUS)
dt = time.monotonic() - t0
if "error" in r or dt > 2:
    raise SystemExit(f"FAIL: other client took {dt:.2f} s: {r}")
print(f"ok: another client served in {dt * 1000:.0f} ms while one stalls")
other.close()
stalled.settimeout(IDLE + 10)
t0 = time.monotonic()
if stalled.recv(10) != b"":
    raise SystemExit("FAIL: stalled client got data")
dt = time.monotonic() - t0
if dt > IDLE + 5:
    raise SystemExit(f"FAIL: stalled client closed after {dt:.1f} s")
print(f"ok: stalled client closed after {dt:.1f} s (idle timeout {IDLE} s)")
# max connections: the one past the limit is closed at once
held = [conn() for _ in range(MAXC)]
for h in held:		# each one really accepted: it answers
    if "error" in call(h, STATUS):
        raise SystemExit("FAIL: Status on a held connection")
extra = conn()
extra.settimeout(5)
try:
    extra.sendall(STATUS)
    got = extra.recv(10)
except (BrokenPipeError, ConnectionResetError):
    got = b""
if got != b"":
    raise SystemExit(f"FAIL: connection {MAXC + 1} of {MAXC} was served")
print(f"ok: connection {MAXC + 1} closed at once (max_connections {MAXC})")
for h in held:
    h.close()
for attempt in range(50):
    time.sleep(0.1)
    s = conn()
    try:
        s.sendall(STATUS)
        r = recv_frame(s)
        break
    except (SystemExit, BrokenPipeError, ConnectionResetError):
        s.close()
else:
    raise SystemExit("FAIL: not served again after the others closed")
print("ok: served again once the held connections closed")
s.close()
print("mtd_frames: all passed")
