#!/usr/bin/env python3
"""m2mtokend started the way systemd starts it (test_m2mtokend.sh).

    mtd_activate.py M2MTOKEND CONFIG TMPDIR

Like systemd's socket activation, it binds the listening socket itself and
hands it to the daemon as fd 3 (LISTEN_FDS=1, LISTEN_PID), and like
Type=notify it gives NOTIFY_SOCKET: the daemon must say READY=1, serve a
Status call on the passed socket (not on its configured path), say
STOPPING=1 on SIGTERM and exit 0.  Prints "ok:" lines, exits 1 on failure.
"""
import json
import os
import signal
import socket
import sys
import time

daemon, conf, tmp = sys.argv[1:4]
listen_path = os.path.join(tmp, "activated.sock")
notify_path = os.path.join(tmp, "notify.sock")

lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lsock.bind(listen_path)
lsock.listen(16)
nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
nsock.bind(notify_path)
nsock.settimeout(20)

pid = os.fork()
if pid == 0:
    os.dup2(lsock.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
               NOTIFY_SOCKET=notify_path)
    log = os.open(os.path.join(tmp, "activated.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 2)
    os.execve(daemon, [daemon, "-c", conf], env)

def fail(msg):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    with open(os.path.join(tmp, "activated.log")) as f:
        sys.stderr.write(f.read())
    raise SystemExit("FAIL: " + msg)

try:
    msg = nsock.recv(4096).decode()
except socket.timeout:
    fail("no sd_notify message")
if "READY=1" not in msg.split("\n"):
    fail(f"expected READY=1, got {msg!r}")
print("ok: sd_notify READY=1")

c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.settimeout(10)
c.connect(listen_path)
c.sendall(b'{"method":"io.m2mtoken.Status"}\0')
buf = b""
while not buf.endswith(b"\0"):
    b = c.recv(65536)
    if not b:
        fail("connection closed")
    buf += b
reply = json.loads(buf[:-1])
if "error" in reply or "token" not in reply["parameters"]:
    fail(f"Status on the activated socket: {reply}")
c.close()
print("ok: Status served on the socket passed as fd 3 (LISTEN_FDS)")

os.kill(pid, signal.SIGTERM)
try:
    msg = nsock.recv(4096).decode()
except socket.timeout:
    fail("no STOPPING=1")
if "STOPPING=1" not in msg.split("\n"):
    fail(f"expected STOPPING=1, got {msg!r}")
deadline = time.monotonic() + 20
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        fail("the daemon did not exit on SIGTERM")
    time.sleep(0.05)
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    fail(f"exit status {status}")
print("ok: STOPPING=1 and exit 0 on SIGTERM")
