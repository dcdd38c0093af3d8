#!/usr/bin/env bash
# m2m-label: local-only (it starts its own server: it is the test of the
# wire itself; every other integration test reruns as clientmode.*)
# Client mode over the wire, without the daemon: p11srv_harness (the
# worker of m2mtokend, daemon/m2mtokend/p11worker.c) serves this backend's
# token; the module in client mode (pkcs11/remote.c) forwards to it.
# (Every other integration test runs again in client mode through the real
# daemon: the clientmode.* ctests.)
#   1. the worker's protocol errors: another major version, a frame over
#      frame_max, a call before HELLO, a frame that stalls; and its slot
#      filter (C_GetSlotList, a call naming a hidden slot, C_InitToken
#      with a label the client may not see);
#   2. the module against a fake daemon (p11wire_peer.py): a daemon of
#      another major version or refusing HELLO (a reason with control
#      characters too), one that answers what was not asked or with an
#      error frame, one that closed the
#      connection before the next call (no SIGPIPE), one that stops
#      answering ([daemon] timeout in a client-mode configuration file),
#      one that answers only once 8 requests are in (pipelining: 8
#      calls in flight on one connection); and C_Finalize while other
#      threads are in calls (a reply that never comes; a race of a few
#      seconds, the point of the ASan build's run).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

backend=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
bin=$M2M_BUILD/tests/integration
peer=$here/p11wire_peer.py

m2m_setup "$backend"

# 1. the worker (frame_max 1 MiB, stall_timeout 1 s)
m2m_start_p11srv 1048576 1
sock=$M2MTOKEN_DAEMON_SOCKET
out=$(python3 "$peer" raw "$sock" major2)
m2m_expect_contains "$out" "version protocol version 2.0 on the client, 1.0 here"
m2m_expect_contains "$out" "closed"
out=$(python3 "$peer" raw "$sock" toobig)
m2m_expect_contains "$out" "too-big a frame of 2147483648 bytes, over frame_max 1048576"
m2m_expect_contains "$out" "closed"
out=$(python3 "$peer" raw "$sock" order)
m2m_expect_contains "$out" "order call 3 before HELLO"
out=$(python3 "$peer" raw "$sock" stall)
m2m_expect_contains "$out" "stalled a frame not finished within 1 s"
m2m_expect_contains "$out" "closed"
# one log line per protocol error, no more
n=$(grep -c "pkcs11: protocol error" "$M2M_TMP/p11srv.log")
[ "$n" -eq 4 ] || m2m_fail "expected 4 protocol error lines, got $n"
# and the harness still serves
out=$("$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_GetInfo 0x0"

# calls whose failure the module must not ignore (tests/shim/failcall.c):
# without the socket's timeouts a read could block for ever, without the
# fork handlers a child would use the parent's connection; each fails
# C_Initialize with a log line
failcall()
{
	LD_PRELOAD=$M2M_BUILD/tests/libm2m_shim_failcall.so M2M_FAILCALL=$1 \
	    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
	    "$bin/client_probe" init 2>&1
}
out=$(failcall setsockopt)
m2m_expect_contains "$out" "C_Initialize 0x30"
m2m_expect_contains "$out" "cannot set the socket's timeouts ([daemon] timeout 60 s)"
m2m_expect_contains "$out" "C_GetInfo 0x190"
out=$(failcall atfork)
m2m_expect_contains "$out" "C_Initialize 0x2"		# CKR_HOST_MEMORY
m2m_expect_contains "$out" "cannot register the fork handlers (pthread_atfork)"
m2m_expect_contains "$out" "C_GetInfo 0x190"

# the slot filter: tokens "vis-a" and "hid-b", and a worker that shows
# only labels beginning with "vis"
mk()
{
	env -u M2MTOKEN_DAEMON_SOCKET "$bin/client_probe" mktoken "$1" |
	    sed -n 's/^slot //p'
}
vis=$(mk vis-a)
hid=$(mk hid-b)
[ -n "$vis" ] && [ -n "$hid" ] || m2m_fail "cannot make the two tokens"
env -u M2MTOKEN_DAEMON_SOCKET setsid \
    "$M2M_BUILD/daemon/m2mtokend/tests/p11srv_harness" "$M2M_TMP/vis.sock" \
    1048576 10 vis </dev/null >>"$M2M_TMP/p11srv.log" 2>&1 &
m2m_defer m2m_stop_p11srv "$!"
for ((i = 0; i < 100; i++)); do
	[ -S "$M2M_TMP/vis.sock" ] && break
	sleep 0.05
done
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/vis.sock "$bin/client_probe" slots)
m2m_expect_contains "$out" "slots 1"
m2m_expect_contains "$out" "slot $vis vis-a"
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/vis.sock "$bin/client_probe" \
    tokeninfo "$hid")
m2m_expect_contains "$out" "C_GetTokenInfo 0x3"		# SLOT_ID_INVALID
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/vis.sock "$bin/client_probe" \
    inittoken "$((hid + 1))" vis-new)
m2m_expect_contains "$out" "C_InitToken 0x3"	# the free slot is hidden too
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/vis.sock "$bin/client_probe" \
    inittoken "$vis" hid-x)
m2m_expect_contains "$out" "C_InitToken 0xe2"	# TOKEN_WRITE_PROTECTED
grep -q "C_InitToken: label 'hid-x *' is not one this client may see" \
    "$M2M_TMP/p11srv.log" || m2m_fail "no log line for the refused label"
# without the filter both tokens and the free slot are there
out=$("$bin/client_probe" slots)
m2m_expect_contains "$out" "slots 3"
m2m_expect_contains "$out" "slot $hid hid-b"

# 2. the module against a fake daemon
fake()
{
	local mode=$1 n=${2:-0} pid i

	rm -f "$M2M_TMP/fake.sock"
	python3 "$peer" serve "$mode" "$M2M_TMP/fake.sock" "$n" \
	    >"$M2M_TMP/fake.out" 2>&1 &
	pid=$!
	FAKE_PID=$pid
	m2m_defer m2m_stop "$pid"
	for ((i = 0; i < 100; i++)); do
		[ -S "$M2M_TMP/fake.sock" ] && return 0
		sleep 0.05
	done
	m2m_fail "the fake daemon did not start"
}

fake badmajor
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_Initialize 0x30"	# CKR_DEVICE_ERROR
m2m_expect_contains "$out" "protocol version 2.0 on the daemon, 1.0 here"
m2m_expect_contains "$out" "C_GetInfo 0x190"	# not initialised

fake refuse
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_Initialize 0x30"
m2m_expect_contains "$out" "refused the connection: version: protocol version 1.0 on the client, 9.0 here"

# a daemon that closed the connection (restart, [pkcs11] idle_timeout)
# before the next call: that call is CKR_DEVICE_ERROR, not a SIGPIPE that
# kills a process with SIGPIPE's default action (the probe's; before the
# fix the batch writer used writev, without MSG_NOSIGNAL)
fake close
out=$( (while kill -0 "$FAKE_PID" 2>/dev/null; do sleep 0.05; done) |
    M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" closed \
    2>&1) || m2m_fail "client_probe closed: status $?: $out"
m2m_expect_contains "$out" "C_Initialize 0x0"
m2m_expect_contains "$out" "C_GetInfo 0x30"	# CKR_DEVICE_ERROR
m2m_expect_contains "$out" "C_Finalize 0x0"

# a daemon that answers what was not asked (an id never sent): the
# connection is lost, the call CKR_DEVICE_ERROR with one log line
fake stray
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_Initialize 0x0"
m2m_expect_contains "$out" "C_GetInfo 0x30"
m2m_expect_contains "$out" "a reply to no request (id "
m2m_expect_contains "$out" "C_Finalize 0x0"

# a reply to a frame still queued (a held init, not sent yet): only an
# impostor knows its id; the connection is lost (before, the reply was
# taken as the init's)
fake early
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" early \
    2>&1) || m2m_fail "client_probe early: status $?: $out"
m2m_expect_contains "$out" "C_Sign 0x0"
m2m_expect_contains "$out" "C_SignInit(held) 0x0"
m2m_expect_contains "$out" "a reply to a request not sent yet (id "
m2m_expect_contains "$out" "C_GenerateRandom 0x30"

# a daemon's reason with control characters: logged with each as '?'
# (C0, DEL, C1 raw and as UTF-8), never raw on a terminal
no_ctl()
{
	! printf '%s' "$1" | LC_ALL=C grep -q \
	    $'[\x01-\x09\x0b-\x1f\x7f\x80-\x9f]' ||
	    m2m_fail "control bytes in the log: $(printf '%s' "$1" | od -c)"
}
fake refusectl
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_Initialize 0x30"
m2m_expect_contains "$out" "refused the connection: version: bad?[2J? text? ?31m ?0m?end"
no_ctl "$out"
fake errctl
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "C_GetInfo 0x30"
m2m_expect_contains "$out" "ended the connection: malformed: bad?[2J? text? ?31m ?0m?end"
no_ctl "$out"

# a client-mode configuration file: [daemon] only
printf '[daemon]\nsocket = %s\ntimeout = 1\n' "$M2M_TMP/fake.sock" \
    >"$M2M_TMP/client.conf"
fake stuck
out=$(env -u M2MTOKEN_DAEMON_SOCKET M2MTOKEN_CONF=$M2M_TMP/client.conf \
    "$bin/client_probe" timeout 2>&1)
m2m_expect_contains "$out" "C_Initialize 0x0"
line=$(printf '%s\n' "$out" | grep '^C_CloseSession')
set -- $line
[ "$2" = 0x30 ] || m2m_fail "C_CloseSession after the timeout: $line"
[ "$3" -ge 900 ] && [ "$3" -lt 5000 ] ||
    m2m_fail "C_CloseSession took $3 ms, want about 1000"
line=$(printf '%s\n' "$out" | grep '^C_GetInfo')
set -- $line
[ "$2" = 0x30 ] && [ "$3" -lt 100 ] ||
    m2m_fail "the call after the timeout: $line (want 0x30 at once)"
n=$(printf '%s\n' "$out" | grep -c "no reply from m2mtokend within 1 s")
[ "$n" -eq 1 ] || m2m_fail "expected one log line for the lost connection, got $n"
m2m_expect_contains "$out" "C_Finalize 0x0"

printf '[daemon]\nsocket = %s\ntimeout = 5\n' "$M2M_TMP/fake.sock" \
    >"$M2M_TMP/client.conf"
fake gather 8
out=$(env -u M2MTOKEN_DAEMON_SOCKET M2MTOKEN_CONF=$M2M_TMP/client.conf \
    "$bin/client_probe" inflight 8 2>&1)
n=$(printf '%s\n' "$out" | grep -c '^C_CloseSession 0x0$')
[ "$n" -eq 8 ] || { printf '%s\n' "$out" >&2
    m2m_fail "8 calls in flight on one connection: $n answered"; }

# C_Finalize while a thread waits for a reply that never comes: the
# thread is woken (CKR_CRYPTOKI_NOT_INITIALIZED, as PKCS#11 has it for
# C_WaitForSlotEvent) and C_Finalize does not wait for [daemon] timeout
fake stuck
out=$(env -u M2MTOKEN_DAEMON_SOCKET M2MTOKEN_CONF=$M2M_TMP/client.conf \
    "$bin/client_probe" finblocked 2>&1) ||
    m2m_fail "client_probe finblocked: status $?: $out"
line=$(printf '%s\n' "$out" | grep '^C_Finalize(blocked)')
set -- $line
[ "$2" = 0x0 ] && [ "$3" -lt 2000 ] ||
    m2m_fail "C_Finalize with a call in flight: $line (want 0x0 at once)"
line=$(printf '%s\n' "$out" | grep '^C_CloseSession')
set -- $line
[ "$2" = 0x190 ] && [ "$3" -lt 2000 ] ||
    m2m_fail "the call in flight at C_Finalize: $line (want 0x190 at once)"

# C_Finalize while threads loop on calls, C_Initialize again, for 3 s: no
# use of freed memory (ASan), no hang, every call CKR_OK or
# CKR_CRYPTOKI_NOT_INITIALIZED
fake inorder
out=$(M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock "$bin/client_probe" \
    finrace 3 2>&1) || m2m_fail "client_probe finrace: status $?: $out"
m2m_expect_contains "$out" "rounds "
m2m_expect_contains "$out" "C_Finalize 0x0"

# a client-mode file must not name a store or a backend
printf '[daemon]\nsocket = /run/x.sock\n\n[hsm]\npin = env:X\n' \
    >"$M2M_TMP/client.conf"
out=$(env -u M2MTOKEN_DAEMON_SOCKET M2MTOKEN_CONF=$M2M_TMP/client.conf \
    "$bin/client_probe" init 2>&1)
m2m_expect_contains "$out" "[hsm]: not allowed with [daemon] socket"
m2m_log "ok"
