#!/usr/bin/env python3
"""What a client uid can get of m2mtokend's secrets (test_m2mtokend_sep.sh).
Run as that uid.

    mtd_snoop.py OUT PID... -- PATH...

Tries to read every PATH (files; directories are listed and their files
read, recursively) and /proc/PID/{environ,mem,maps,cmdline,status,fd/*}
of every PID, and to ptrace-attach to each PID.  Everything it could read
goes to OUT (for the caller's search for key and PIN bytes).  Prints
"READ <path>" or "DENIED <path>: <error>" per path, "PTRACE <pid>: <result>"
per pid.  Exit 0.
"""
import ctypes
import os
import sys

out_path = sys.argv[1]
sep = sys.argv.index("--")
pids = sys.argv[2:sep]
paths = sys.argv[sep + 1:]
blob = open(out_path, "wb")


def read(path, depth=0):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            names = os.listdir(path)
            print("READ %s (directory of %d)" % (path, len(names)))
            blob.write(("\n".join(names) + "\n").encode())
            if depth < 4:
                for n in names:
                    read(os.path.join(path, n), depth + 1)
            return
        with open(path, "rb") as f:
            data = f.read(1 << 24)
        blob.write(data)
        print("READ %s (%d bytes)" % (path, len(data)))
    except OSError as e:
        print("DENIED %s: %s" % (path, e.strerror))


for p in paths:
    read(p)
for pid in pids:
    for what in ("environ", "mem", "maps", "cmdline", "status", "fd",
                 "stack", "auxv"):
        read("/proc/%s/%s" % (pid, what))

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                        ctypes.c_void_p]
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
for pid in pids:
    r = libc.ptrace(PTRACE_ATTACH, int(pid), None, None)
    if r == -1:
        print("PTRACE %s: denied: %s" % (pid,
                                          os.strerror(ctypes.get_errno())))
    else:
        print("PTRACE %s: ATTACHED" % pid)
        libc.ptrace(PTRACE_DETACH, int(pid), None, None)
blob.close()
