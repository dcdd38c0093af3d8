#!/usr/bin/env python3
"""m2mtokend started the way systemd starts it (test_m2mtokend.sh).

    mtd_activate.py M2MTOKEND CONFIG TMPDIR [pkcs11]

Like systemd's socket activation, it binds the listening socket itself and
hands it to the daemon as fd 3 (LISTEN_FDS=1, LISTEN_PID); with pkcs11 a
second one as fd 4, the two named (LISTEN_FDNAMES=flow:pkcs11), and a
connection to the second must be taken as a client-mode one (its log line
names the caller and its worker).  Like
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
p11 = len(sys.argv) > 4 and sys.argv[4] == "pkcs11"
listen_path = os.path.join(tmp, "activated.sock")
p11_path = os.path.join(tmp, "activated-p11.sock")
notify_path = os.path.join(tmp, "notify.sock")

lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lsock.bind(listen_path)
lsock.listen(16)
psock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if p11:
    psock.bind(p11_path)
    psock.listen(16)
nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
nsock.bind(notify_path)
nsock.settimeout(20)

pid = os.fork()
if pid == 0:
    os.dup2(lsock.fileno(), 3)
    os.set_inheritable(3, True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()),
               NOTIFY_SOCKET=notify_path)
    if p11:
        os.dup2(psock.fileno(), 4)
        os.set_inheritable(4, True)
        env.update(LISTEN_FDS="2", LISTEN_FDNAMES="flow:pkcs11")
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

if p11:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(p11_path)
    want = "pkcs11: uid %d pid %d: rule " % (os.getuid(), os.getpid())
    for _ in range(100):
        with open(os.path.join(tmp, "activated.log")) as f:
            text = f.read()
        if want in text:
            break
        time.sleep(0.05)
    else:
        fail("no client-mode connection line: " + want)
    if "client mode on the pkcs11 socket from systemd" not in text:
        fail("the pkcs11 socket from systemd is not named in the log")
    c.close()
    # its worker ends (EOF; or "not built") and is reaped, logged
    for _ in range(100):
        with open(os.path.join(tmp, "activated.log")) as f:
            text = f.read()
        if "pkcs11: worker " in text and " exited with status " in text:
            break
        time.sleep(0.05)
    else:
        fail("the worker's end is not logged")
    print("ok: a connection on the socket named pkcs11 (fd 4) is a "
          "client-mode one; its worker's end is logged")

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
