#!/usr/bin/env bash
# m2m-label: local-only (the module in client mode against a fake daemon:
# a test of the module's own fork handling, no m2mtokend)
# A fork while another thread grows a frame buffer (p11w_put_space): gdb
# stops the thread between the wipe and free of the old block and the
# buffer's new pointer, and lets a second thread fork (forkresize_probe).
# The child's C_Initialize frees the parent's buffers: before the fix the
# child's copy still pointed at the freed block, which child_wipe wrote
# into and C_Initialize freed again (a double free: SIGABRT without
# glibc's tcache).  Now the fork waits for the resize to end (p11wire's
# resize lock, taken by remote.c's atfork_prepare).  Twice: the request
# buffer (C_Login with a 3000-byte PIN, encoded by the caller) and the
# reply buffer (C_GenerateRandom of 3000 bytes, read by the reader).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

backend=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
probe=$M2M_BUILD/tests/integration/forkresize_probe

if ! command -v gdb >/dev/null; then
	echo "SKIP: a fork during a buffer's resize: gdb not found (scripts/deps.txt)"
	exit 0
fi
m2m_setup "$backend"

rm -f "$M2M_TMP/fake.sock"
python3 "$here/p11wire_peer.py" serve inorder "$M2M_TMP/fake.sock" \
    >"$M2M_TMP/fake.out" 2>&1 &
m2m_defer m2m_stop "$!"
for ((i = 0; i < 100; i++)); do
	[ -S "$M2M_TMP/fake.sock" ] && break
	sleep 0.05
done
[ -S "$M2M_TMP/fake.sock" ] || m2m_fail "the fake daemon did not start"

# the resize's last step: the buffer takes its new block
line=$(grep -n '^	*b->data = p;$' "$M2M_SRC/p11wire/frame.c" | cut -d: -f1)
[[ -n $line && $line != *$'\n'* ]] ||
    m2m_fail "p11wire/frame.c: no single 'b->data = p;' line"

# resize MODE CALL: the probe's call stopped in its resize, the forker's
# fork, then everything resumed
resize()
{
	local mode=$1 call=$2 out fork rc=0

	cat >"$M2M_TMP/$mode.gdb" <<GDB
set pagination off
set confirm off
set breakpoint pending on
set detach-on-fork on
set follow-fork-mode parent
set print thread-events off
handle SIGALRM stop print nopass
break frame.c:$line if forkresize_armed
break forkresize_forked
run $mode
echo \n=== resize: the caller stopped\n
bt 6
set var forkresize_go = 1
set scheduler-locking on
thread 2
continue
echo \n=== the forker: forked, or waiting\n
bt 10
set scheduler-locking off
delete
continue
GDB
	# without tcache the double free aborts at once; LeakSanitizer of an
	# ASan build cannot run under ptrace
	GLIBC_TUNABLES=glibc.malloc.tcache_count=0 \
	    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/fake.sock \
	    timeout 120 gdb -nx -batch -x "$M2M_TMP/$mode.gdb" "$probe" \
	    >"$M2M_TMP/$mode.out" 2>&1 </dev/null || rc=$?
	out=$(cat "$M2M_TMP/$mode.out")
	[ "$rc" -eq 0 ] || m2m_fail "gdb ($mode): status $rc: $out"
	grep -Eq "Breakpoint 1(\.[0-9]+)?, p11w_put_space " <<<"$out" ||
	    m2m_fail "gdb did not stop in the resize ($mode): $out"
	m2m_expect_contains "$out" "in forker"
	m2m_expect_contains "$out" "child: C_Initialize 0x0"
	m2m_expect_contains "$out" "child exit 0"
	m2m_expect_contains "$out" "$call 0x0"
	m2m_expect_contains "$out" "exited normally"
	# the fork waited for the resize: the forker's alarm found it in the
	# fork handler, on the resize lock (atfork_prepare's tail call when
	# optimised: the lock's name, not the handler's, is in every build)
	fork=${out#*=== resize: the caller stopped}
	[[ $fork == *"received signal SIGALRM"*"=== the forker"*"<rc_resize_lock>"* ]] ||
	    m2m_fail "the fork did not wait for the resize ($mode): $out"
	m2m_log "ok: $call: a fork during its buffer's resize waits for it"
}

resize login C_Login
resize random C_GenerateRandom
m2m_log "ok"
