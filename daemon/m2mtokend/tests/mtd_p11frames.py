#!/usr/bin/env python3
"""Hostile raw-frame clients of m2mtokend's client-mode socket
(test_m2mtokend_p11.sh; the wire of docs/protocol.md, "Client mode").

    mtd_p11frames.py SOCKET FRAME_MAX STALL_SECONDS hostile
    mtd_p11frames.py SOCKET FRAME_MAX STALL_SECONDS busy MAX_CLIENTS

hostile: each case gets its exact error frame (code, and a one-line
reason of at most 200 bytes naming the fault), then the daemon closes the
connection; a truncated frame and close leaves nothing to read.
busy: MAX_CLIENTS connections past HELLO stay open; one more gets the
busy frame and EOF; once one closes, a new one is served again.
Prints one "ok:" line per case; exits 1 on the first failure.
"""
import select
import socket
import struct
import sys
import time

SOCK, FRAME_MAX, STALL = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
MODE = sys.argv[4]

MAGIC = b"m2mtoken-p11"
VERSION, MALFORMED, TOO_BIG, ORDER, STALLED, BUSY = 1, 2, 3, 4, 5, 6
NAMES = {1: "version", 2: "malformed", 3: "too-big", 4: "order",
         5: "stalled", 6: "busy", 7: "internal", 8: "denied"}
C_INITIALIZE, C_GETINFO, C_GETSLOTLIST, C_ENCRYPTINIT = 1, 3, 4, 29
CKM_AES_GCM, FORM_BYTES = 0x1087, 1


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(STALL + 10)
    s.connect(SOCK)
    return s


def frame(fid, code, body=b""):
    return struct.pack(">III", len(body), fid, code) + body


def hello(major=1, minor=0, ulong=8, magic=MAGIC):
    return magic + struct.pack(">HHB", major, minor, ulong)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            return None
        buf += b
    return buf


def reply(s):
    h = recv_exact(s, 12)
    if h is None:
        fail("connection closed before a reply")
    ln, fid, code = struct.unpack(">III", h)
    body = recv_exact(s, ln) if ln else b""
    if body is None:
        fail("reply body cut")
    return fid, code, body


def expect_eof(s, what):
    try:
        b = s.recv(1)
    except (ConnectionResetError, socket.timeout) as e:
        fail("%s: no clean close: %r" % (what, e))
    if b:
        fail("%s: more bytes after the error frame" % what)


def do_hello(s, fid=1):
    s.sendall(frame(fid, 0, hello()))
    rid, code, body = reply(s)
    if code != 0 or rid != fid or body[:12] != MAGIC:
        fail("HELLO: code %d id %d body %r" % (code, rid, body))
    major, minor, fmax = struct.unpack(">HHI", body[12:20])
    if major != 1 or fmax != FRAME_MAX:
        fail("HELLO reply: %d.%d frame_max %d" % (major, minor, fmax))


def expect_error(s, want, what, words, exact=None):
    """The next frame is error want; its reason holds every one of words
    (and is exact, when given)."""
    t0 = time.monotonic()
    _fid, code, body = reply(s)
    took = time.monotonic() - t0
    if code != want:
        fail("%s: code %d (%s), want %d (%s): %r" % (
            what, code, NAMES.get(code, "?"), want, NAMES[want], body))
    reason = body.decode("utf-8")
    if not reason or len(body) > 200 or "\n" in reason:
        fail("%s: reason %r is not one line of 1..200 bytes" % (what, body))
    for w in words:
        if w not in reason:
            fail("%s: reason %r does not say %r" % (what, reason, w))
    if exact is not None and reason != exact:
        fail("%s: reason %r, want %r" % (what, reason, exact))
    expect_eof(s, what)
    print("ok: %s -> %s: %s (%.1f s)" % (what, NAMES[want], reason, took))
    s.close()


def hostile():
    # a request before HELLO
    s = conn()
    s.sendall(frame(7, C_GETINFO))
    expect_error(s, ORDER, "a call before HELLO", ["HELLO"],
                 "call 3 before HELLO")

    # a wrong major version
    s = conn()
    s.sendall(frame(1, 0, hello(major=2)))
    expect_error(s, VERSION, "HELLO with major 2", ["2", "1"],
                 "protocol version 2.0 on the client, 1.0 here: install "
                 "matching versions of the module and m2mtokend")

    # a bad magic, a CK_ULONG of 4 bytes
    s = conn()
    s.sendall(frame(1, 0, hello(magic=b"m2mtoken-p12")))
    expect_error(s, VERSION, "HELLO with a bad magic", [],
                 "not an m2mtoken PKCS#11 HELLO (bad magic)")
    s = conn()
    s.sendall(frame(1, 0, hello(ulong=4)))
    expect_error(s, VERSION, "HELLO with CK_ULONG of 4 bytes", ["4", "8"],
                 "the client's CK_ULONG has 4 bytes, the daemon's 8: a "
                 "32-bit client needs a 32-bit daemon")

    # HELLO twice
    s = conn()
    do_hello(s)
    s.sendall(frame(2, 0, hello()))
    expect_error(s, ORDER, "HELLO twice", ["HELLO"], "a second HELLO")

    # an unknown call number
    s = conn()
    do_hello(s)
    s.sendall(frame(2, 9999))
    expect_error(s, ORDER, "call 9999", ["9999"],
                 "call 9999 is not a call after HELLO")

    # a malformed body: C_GetSlotList with 3 bytes
    s = conn()
    do_hello(s)
    s.sendall(frame(2, C_GETSLOTLIST, b"\x01\x01\x00"))
    expect_error(s, MALFORMED, "C_GetSlotList with a 3-byte body",
                 ["C_GetSlotList"], "the arguments of C_GetSlotList (3 "
                 "bytes) do not decode")

    # C_EncryptInit with a GCM parameter structure sent as its 48 raw
    # bytes: pointers of the client's choosing, refused before any use
    s = conn()
    do_hello(s)
    body = (struct.pack(">QBQBI", 1, 1, CKM_AES_GCM, FORM_BYTES, 48) +
            b"\x41" * 48 + struct.pack(">Q", 2))
    s.sendall(frame(2, C_ENCRYPTINIT, body))
    expect_error(s, MALFORMED, "C_EncryptInit with GCM parameters as bytes",
                 ["C_EncryptInit"], "the arguments of C_EncryptInit (%d "
                 "bytes) do not decode" % len(body))

    # a header with len > frame_max: the body is never read
    s = conn()
    do_hello(s)
    s.sendall(struct.pack(">III", FRAME_MAX + 1, 2, C_GETINFO))
    expect_error(s, TOO_BIG, "len frame_max + 1", [str(FRAME_MAX)],
                 "a frame of %d bytes, over frame_max %d" % (FRAME_MAX + 1,
                                                             FRAME_MAX))

    # a client that stalls mid-frame
    s = conn()
    do_hello(s)
    s.sendall(struct.pack(">III", 100, 2, C_GETINFO) + b"x" * 10)
    t0 = time.monotonic()
    expect_error(s, STALLED, "stall mid-frame", [],
                 "a frame not finished within %d s" % STALL)
    if time.monotonic() - t0 > STALL + 3:
        fail("the stalled client was closed after %.1f s, stall_timeout "
             "%.0f" % (time.monotonic() - t0, STALL))

    # a stall inside the header, before HELLO
    s = conn()
    s.sendall(b"\x00\x00")
    expect_error(s, STALLED, "stall inside a header", [],
                 "a frame not finished within %d s" % STALL)

    # a truncated frame, then close: nothing to answer
    s = conn()
    do_hello(s)
    s.sendall(struct.pack(">III", 100, 2, C_GETINFO) + b"x" * 10)
    s.shutdown(socket.SHUT_WR)
    try:
        b = s.recv(4096)
    except ConnectionResetError:
        b = b""
    s.close()
    print("ok: truncated frame then close (%d bytes back)" % len(b))

    # a client that goes with its reply unread: its worker's next read
    # gets ECONNRESET, which ends the connection as EOF does (status 0)
    s = conn()
    do_hello(s)
    s.sendall(frame(2, C_GETINFO, b"\x01"))   # pInfo present
    r, _, _ = select.select([s], [], [], STALL + 10)
    if not r:
        fail("no reply to C_GetInfo")
    s.close()
    print("ok: a client gone with its reply unread")

    # a client that goes before its reply is written: C_Initialize (the
    # module's start takes milliseconds), then close at once; the
    # worker's write gets EPIPE, which ends the connection as EOF does
    s = conn()
    do_hello(s)
    s.sendall(frame(2, C_INITIALIZE))
    s.close()
    print("ok: a client gone before its reply")


def busy(maxc):
    held = []
    for _ in range(maxc):
        s = conn()
        do_hello(s)
        held.append(s)
    s = conn()
    expect_error(s, BUSY, "connection %d of max_clients %d" % (
        maxc + 1, maxc), ["max_clients"],
        "the daemon serves %d clients already ([pkcs11] max_clients)" % maxc)
    held.pop().close()
    # the daemon reaps that worker; then a new client is served again
    for i in range(50):
        s = conn()
        try:
            s.sendall(frame(1, 0, hello()))
        except BrokenPipeError:
            pass    # busy, closed already: its frame is still there
        _fid, code, body = reply(s)
        s.close()
        if code == 0:
            break
        if code != BUSY:
            fail("after a close: code %d %r" % (code, body))
        time.sleep(0.1)
    else:
        fail("still busy 5 s after a client left")
    print("ok: a client is served again once one left")
    for s in held:
        s.close()


if MODE == "hostile":
    hostile()
elif MODE == "busy":
    busy(int(sys.argv[5]))
else:
    fail("mode: hostile | busy")
