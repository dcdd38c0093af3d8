#!/usr/bin/env python3
"""The other end of the client-mode wire, for test_client_mode.sh.

  p11wire_peer.py serve MODE SOCK [N]
      A fake m2mtokend on the Unix socket SOCK, one connection, then exit:
        badmajor   answers HELLO with protocol version 2.0
        refuse     answers HELLO with a 'version' error frame
        refusectl  the same with control characters in its reason (C0,
                   DEL, C1 raw and UTF-8 encoded)
        errctl     HELLO and C_Initialize answered; the next request gets
                   a 'malformed' error frame with such a reason
        stray      HELLO and C_Initialize answered; the next request gets
                   a reply with an id the client never sent
        early      HELLO and C_Initialize answered; C_SignInit and C_Sign
                   answered rv 0; the next request (id x) held 0.5 s,
                   then a reply to id x + 1 (the client's held init, not
                   sent yet), then x's: CKR_GENERAL_ERROR, no bytes
        stuck      HELLO and C_Initialize answered, then no reply at all
        close      HELLO and C_Initialize answered, then a 'stalled' error
                   frame and the connection closed, as the daemon's
                   [pkcs11] idle_timeout does
        gather     HELLO and C_Initialize answered; then holds the next N
                   requests and answers them (rv 0) only when all N are
                   in: a client that waits for a reply before it sends the
                   next request never gets one
        inorder    any number of connections, each in a thread: HELLO, then
                   every request answered rv 0 in order (C_GenerateRandom
                   with the bytes asked for); the connection closed after
                   the reply to C_Finalize (as the worker)
      Prints "ready" once listening.
  p11wire_peer.py raw SOCK CASE
      A raw client of a real worker; prints the reply frame's code name
      and reason:
        major2     a HELLO with major version 2
        toobig     a frame header announcing 2^31 bytes
        order      a C_GetInfo before HELLO
        stall      a HELLO header and half its body, then nothing
"""
import os
import socket
import struct
import sys
import threading
import time

MAGIC = b"m2mtoken-p11"
ERRS = {0: "ok", 1: "version", 2: "malformed", 3: "too-big", 4: "order",
        5: "stalled", 6: "busy", 7: "internal", 8: "denied"}
C_INITIALIZE, C_FINALIZE, C_GETINFO = 1, 2, 3
C_GENERATERANDOM = 64


# ESC [2J, BEL, DEL, CSI as UTF-8 (c2 9b) and raw (9b), NUL
CTL_REASON = b"bad\x1b[2J\x07 text\x7f \xc2\x9b31m \x9b0m\x00end"


def frame(id_, code, body=b""):
    return struct.pack(">III", len(body), id_, code) + body


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def recv_frame(s):
    length, id_, code = struct.unpack(">III", recv_exact(s, 12))
    return id_, code, recv_exact(s, length)


def hello(major=1):
    return MAGIC + struct.pack(">HHB", major, 0, 8)


def inorder(s):
    try:
        id_, code, _ = recv_frame(s)
        s.sendall(frame(id_, 0, MAGIC + struct.pack(">HHI", 1, 0, 1 << 20)))
        while code != C_FINALIZE:
            id_, code, body = recv_frame(s)
            rep = struct.pack(">Q", 0)
            if code == C_GENERATERANDOM:
                # u64 session, u8 buffer present, u64 length
                n = struct.unpack(">Q", body[9:17])[0]
                rep += struct.pack(">I", n) + b"r" * n
            s.sendall(frame(id_, 0, rep))
    except (EOFError, OSError):
        pass
    s.close()


def serve(mode, path, n):
    if os.path.exists(path):
        os.unlink(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(64)
    print("ready", flush=True)
    while mode == "inorder":
        s, _ = ls.accept()
        threading.Thread(target=inorder, args=(s,), daemon=True).start()
    s, _ = ls.accept()
    id_, code, _ = recv_frame(s)
    if mode == "badmajor":
        s.sendall(frame(id_, 0, MAGIC + struct.pack(">HHI", 2, 0, 1 << 20)))
        s.recv(1)
        return
    if mode == "refuse":
        s.sendall(frame(id_, 1, b"protocol version 1.0 on the client, "
                        b"9.0 here"))
        return
    if mode == "refusectl":
        s.sendall(frame(id_, 1, CTL_REASON))
        return
    s.sendall(frame(id_, 0, MAGIC + struct.pack(">HHI", 1, 0, 1 << 20)))
    id_, code, _ = recv_frame(s)
    assert code == C_INITIALIZE, code
    s.sendall(frame(id_, 0, struct.pack(">Q", 0)))
    if mode == "stray":
        id_, code, _ = recv_frame(s)
        s.sendall(frame(id_ + 1000, 0, struct.pack(">Q", 0)))
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        return
    if mode == "early":
        id_, code, _ = recv_frame(s)            # C_SignInit, no IV
        s.sendall(frame(id_, 0, struct.pack(">QB", 0, 0)))
        id_, code, _ = recv_frame(s)            # C_Sign: 32 bytes
        s.sendall(frame(id_, 0, struct.pack(">QQI", 0, 32, 32) +
                        b"\x5a" * 32))
        id_, code, _ = recv_frame(s)            # C_GenerateRandom
        time.sleep(0.5)
        s.sendall(frame(id_ + 1, 0, struct.pack(">Q", 0)) +
                  frame(id_, 0, struct.pack(">QI", 5, 0)))
        try:
            while True:
                id_, code, _ = recv_frame(s)
                s.sendall(frame(id_, 0, struct.pack(">Q", 0)))
        except (EOFError, OSError):
            pass
        return
    if mode == "errctl":
        id_, code, _ = recv_frame(s)
        s.sendall(frame(id_, 2, CTL_REASON))
        s.close()
        return
    if mode == "close":
        s.sendall(frame(0, 5, b"no call within 1 s"))
        s.close()
        return
    if mode == "stuck":
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
        return
    held = []
    while len(held) < n:
        held.append(recv_frame(s)[0])
    s.sendall(b"".join(frame(i, 0, struct.pack(">Q", 0)) for i in held))
    try:
        while True:		# C_Finalize and whatever follows: rv 0
            id_, code, _ = recv_frame(s)
            s.sendall(frame(id_, 0, struct.pack(">Q", 0)))
    except (EOFError, OSError):
        pass


def raw(path, case):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.settimeout(20)
    if case == "major2":
        s.sendall(frame(1, 0, hello(2)))
    elif case == "toobig":
        s.sendall(struct.pack(">III", 1 << 31, 1, 0))
    elif case == "order":
        s.sendall(frame(1, C_GETINFO, b"\x01"))
    elif case == "stall":
        body = hello()
        s.sendall(struct.pack(">III", len(body), 1, 0) + body[:8])
    _, code, reason = recv_frame(s)
    print(ERRS.get(code, str(code)), reason.decode(errors="replace"))
    s.settimeout(5)
    print("closed" if s.recv(1) == b"" else "open")


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3],
              int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    elif len(sys.argv) == 4 and sys.argv[1] == "raw":
        raw(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
