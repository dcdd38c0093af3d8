#!/usr/bin/env python3
"""m2m-ipc: one flow IPC call to m2mtokend, for scripts/demo and the flow
tests (the framing of docs/protocol.md: one JSON object, then a NUL).

    m2m-ipc.py SOCKET METHOD [PARAMETERS-JSON]

METHOD is the short name (Bootstrap) or the full one (io.m2mtoken.Bootstrap).
Prints the reply's parameters as JSON on stdout; on an error reply prints
"ERROR <name>: <reason>" (and any detail) on stdout and exits 3; exits 4
when the daemon cannot be reached or closes without a reply.  With
$M2M_IPC_LOG set, appends every raw reply frame to that file (one per
line), so that a test can check that no reply carries key material.
"""
import json
import os
import socket
import sys

FRAME_MAX = 64 * 1024
TIMEOUT = float(os.environ.get("M2M_IPC_TIMEOUT", "30"))


def main(argv):
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    path, method = argv[1], argv[2]
    if not method.startswith("io.m2mtoken."):
        method = "io.m2mtoken." + method
    params = json.loads(argv[3]) if len(argv) == 4 else {}
    call = json.dumps({"method": method, "parameters": params}).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect(path)
        s.sendall(call + b"\0")
        buf = b""
        while b"\0" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > FRAME_MAX + 1:
                break
    except OSError as e:
        print("UNREACHABLE %s: %s" % (path, e))
        return 4
    finally:
        s.close()
    if b"\0" not in buf:
        print("UNREACHABLE %s: no reply" % path)
        return 4
    frame = buf[:buf.index(b"\0")]
    log = os.environ.get("M2M_IPC_LOG")
    if log:
        with open(log, "ab") as f:
            f.write(frame.replace(b"\n", b" ") + b"\n")
    reply = json.loads(frame)
    p = reply.get("parameters", {})
    if "error" in reply:
        extra = {k: v for k, v in p.items() if k != "reason"}
        print("ERROR %s: %s%s" % (reply["error"], p.get("reason", ""),
                                  (" " + json.dumps(extra)) if extra else ""))
        return 3
    print(json.dumps(p))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
