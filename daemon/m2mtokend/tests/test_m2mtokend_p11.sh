#!/usr/bin/env bash
# m2mtokend serving client mode to hostile clients (docs/protocol.md,
# "Client mode: the PKCS#11 wire"): a daemon of client mode only ([pkcs11]
# socket, no [token] label) on a real token; a well-behaved client
# (mtd_p11c, the module in client mode) MACs before, during and after raw
# clients (mtd_p11frames.py) send malformed, truncated, oversized and
# out-of-order frames, a wrong version, and stall mid-frame; each of those
# gets its exact error frame and is closed, and the daemon log names it.
# Then max_clients -> busy, and kill -9 of a client holding a session key:
# its worker exits and a second client finds no such key.  Last, [token]
# max_objects: a logged-in client fills its token (CKR_DEVICE_MEMORY, one
# log line), while clients of another token still create theirs, three at
# once never past the limit.
# Usage: test_m2mtokend_p11.sh hsm|tpm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
. "$HERE/../../../tests/integration/lib.sh"
. "$HERE/mtd_lib.sh"

m2m_setup "${1:?usage: test_m2mtokend_p11.sh hsm|tpm}"
MTD_P11C=${MTD_P11C:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_p11c}
P11SOCK=$M2M_TMP/p11.sock
FRAME_MAX=4096
MAXC=4

KPSA=$(openssl rand -hex 32)
out=$("$MTD_P11C" setup sep "$KPSA") || m2m_fail "setup: $out"
MAC=${out#MAC }
echo "ok: token sep made in local mode, MAC $MAC"
out=$("$MTD_P11C" setup other "$(openssl rand -hex 32)") || m2m_fail "setup other: $out"
echo "ok: token other made in local mode"

cat >"$M2M_TMP/p11.conf" <<CONF
[daemon]
socket = $M2M_TMP/mtd.sock

[pkcs11]
socket = $P11SOCK
max_clients = $MAXC
max_clients_per_uid = $MAXC
frame_max = $FRAME_MAX
stall_timeout = 1

[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF

[caller root]
uid = 0
methods = *
keys = *
tokens = sep other
CONF
chmod 600 "$M2M_TMP/p11.conf"
chmod o= "$M2MTOKEN_CONF"
mtd_start "$M2M_TMP/p11.conf"
grep -q "client mode on $P11SOCK (at most $MAXC clients, frame_max $FRAME_MAX, stall_timeout 1 s)" "$MTD_LOG" ||
    m2m_fail "no client-mode line in the log"
[ "$(stat -c %a "$P11SOCK")" = 660 ] || m2m_fail "socket mode $(stat -c %a "$P11SOCK")"

client()
{
	M2MTOKEN_DAEMON_SOCKET=$P11SOCK "$MTD_P11C" "$@"
}

# --- the flow side of a daemon of client mode only ---------------------------
rc=0; out=$(mtd_cli call io.m2mtoken.ListKeys 2>&1) || rc=$?
[ "$rc" = 9 ] || m2m_fail "ListKeys without a token: exit $rc: $out"
m2m_expect_contains "$out" "io.m2mtoken.NotConfigured"
mtd_cli status >/dev/null || m2m_fail "Status without a token"
echo "ok: flow methods answer NotConfigured, Status works"

# --- before ------------------------------------------------------------------
out=$(client use sep 20) || m2m_fail "client before: $out"
m2m_expect_contains "$out" "MAC $MAC"
echo "ok: a client-mode client MACs with the daemon's key (before)"

# --- token objects need a login; session objects do not ------------------------
# (the daemon's store is shared by every client: before, a client without
# the PIN could fill it and plant public objects whose labels shadow real ones)
out=$(client tokenwrite sep) || m2m_fail "tokenwrite: $out"
want="CREATE-TOKEN CKR_USER_NOT_LOGGED_IN
COUNT 0
CREATE-SESSION CKR_OK
COPY-TO-TOKEN CKR_USER_NOT_LOGGED_IN
SET-SESSION CKR_OK
DESTROY-SESSION CKR_OK
LOGIN-CREATE-TOKEN CKR_OK
COUNT 1
SET-TOKEN CKR_USER_NOT_LOGGED_IN
DESTROY-TOKEN CKR_USER_NOT_LOGGED_IN
COUNT 1
LOGIN-DESTROY-TOKEN CKR_OK
COUNT 0"
[ "$out" = "$want" ] || m2m_fail "token writes: got
$out
want
$want"
for c in C_CreateObject C_CopyObject C_SetAttributeValue C_DestroyObject; do
	grep -q "pkcs11: $c of a token object without a login: CKR_USER_NOT_LOGGED_IN" "$MTD_LOG" ||
	    { cat "$MTD_LOG" >&2; m2m_fail "no log line for $c"; }
done
echo "ok: without a login a client gets CKR_USER_NOT_LOGGED_IN for token objects (create, copy, set, destroy), nothing stored; session objects work; logged in, token objects work"

# --- during: the good client loops while the hostile ones run ----------------
M2MTOKEN_DAEMON_SOCKET=$P11SOCK "$MTD_P11C" loop sep 12 >"$M2M_TMP/loop.out" 2>&1 &
LOOP=$!
m2m_defer kill -9 "$LOOP"
python3 "$HERE/mtd_p11frames.py" "$P11SOCK" "$FRAME_MAX" 1 hostile ||
    m2m_fail "hostile clients"
wait "$LOOP" || { cat "$M2M_TMP/loop.out" >&2; m2m_fail "the good client failed during the hostile ones"; }
grep -q '^LOOP [1-9]' "$M2M_TMP/loop.out" || m2m_fail "no MACs during: $(cat "$M2M_TMP/loop.out")"
echo "ok: the good client went on during them ($(cat "$M2M_TMP/loop.out"))"

# --- after -------------------------------------------------------------------
out=$(client use sep 5) || m2m_fail "client after: $out"
m2m_expect_contains "$out" "MAC $MAC"
echo "ok: and after"

# the daemon log names each event: one accept line per connection, and
# every worker's end
for what in "pkcs11: uid 0 pid [0-9]*: rule root, tokens sep other: worker [0-9]*" \
    "pkcs11: worker [0-9]* (uid 0 pid [0-9]*) exited with status"; do
	grep -q "$what" "$MTD_LOG" || { cat "$MTD_LOG" >&2; m2m_fail "log lacks: $what"; }
done
grep -q "pkcs11: the client has gone (Connection reset by peer, after frame 2)" "$MTD_LOG" ||
    { cat "$MTD_LOG" >&2; m2m_fail "no 'client has gone' line for the client that left its reply unread"; }
for ((i = 0; i < 50; i++)); do
	grep -q "pkcs11: the client has gone (Broken pipe, after frame 2)" "$MTD_LOG" && break
	sleep 0.1
done
grep -q "pkcs11: the client has gone (Broken pipe, after frame 2)" "$MTD_LOG" ||
    { cat "$MTD_LOG" >&2; m2m_fail "no 'client has gone' line for the client that left before its reply"; }
for e in version malformed too-big order stalled; do
	grep -q "$e" "$MTD_LOG" || { cat "$MTD_LOG" >&2; m2m_fail "the log does not name a $e error"; }
done
echo "ok: the log names the connections, the errors and the workers' exits"

# --- max_clients -> busy -------------------------------------------------------
# (root alone: the cap per uid is the total here; test_m2mtokend_dos.sh
# tests max_clients_per_uid with two uids)
python3 "$HERE/mtd_p11frames.py" "$P11SOCK" "$FRAME_MAX" 1 busy "$MAXC" ||
    m2m_fail "busy"
grep -q "pkcs11: uid 0 pid [0-9]*: busy, $MAXC workers run" "$MTD_LOG" ||
    m2m_fail "no busy line in the log"

# the busy case's workers end after its connections close: wait until every
# worker started so far has ended, or the next client may be refused busy
for ((i = 0; i < 100; i++)); do
	started=$(grep -c "pkcs11: uid [0-9]* pid [0-9]*: rule .*: worker [0-9]*" "$MTD_LOG" || true)
	ended=$(grep -c "pkcs11: worker [0-9]* (uid [0-9]* pid [0-9]*) \(exited\|killed\)" "$MTD_LOG" || true)
	[ "$started" -gt "$ended" ] || break
	sleep 0.1
done

# --- kill -9 of a client in a session ------------------------------------------
M2MTOKEN_DAEMON_SOCKET=$P11SOCK "$MTD_P11C" ghost sep >"$M2M_TMP/ghost.out" 2>&1 &
GHOST=$!
m2m_defer kill -9 "$GHOST"
for ((i = 0; i < 100; i++)); do
	grep -q READY "$M2M_TMP/ghost.out" && break
	sleep 0.1
done
grep -q READY "$M2M_TMP/ghost.out" || m2m_fail "ghost: $(cat "$M2M_TMP/ghost.out")"
kill -9 "$GHOST"
wait "$GHOST" 2>/dev/null || true
for ((i = 0; i < 50; i++)); do
	grep -q "pkcs11: worker [0-9]* (uid 0 pid $GHOST) exited" "$MTD_LOG" && break
	sleep 0.1
done
grep -q "pkcs11: worker [0-9]* (uid 0 pid $GHOST) exited" "$MTD_LOG" ||
    { cat "$MTD_LOG" >&2; m2m_fail "the killed client's worker did not exit"; }
out=$(client count sep ghost) || m2m_fail "count: $out"
[ "$out" = "COUNT 0" ] || m2m_fail "the killed client's session key survived: $out"
echo "ok: kill -9 of a client: its worker exited, its session key is gone"

# --- [token] max_objects: one token's client fills it, the others go on ------
# (every token of the daemon shares one store: before, a client logged in
# to one token could fill the disk for all of them; found in review).
# Each worker reads the module's configuration when it starts; sep and
# other hold 3 objects each (their Kpsa, E2E master and T(1)).
printf '\n[token]\nmax_objects = 5\n' >>"$M2MTOKEN_CONF"
out=$(client fill sep 20) || m2m_fail "fill sep: $out"
want="FILLED 2 CKR_DEVICE_MEMORY
SESSION CKR_OK"
[ "$out" = "$want" ] || m2m_fail "fill sep: got
$out
want
$want"
out=$(client fill sep 20) || m2m_fail "fill sep again: $out"
[ "$out" = "FILLED 0 CKR_DEVICE_MEMORY
SESSION CKR_OK" ] || m2m_fail "fill sep again: $out"
grep -q "m2mtoken: error: store .*: token [0-9]* is full: it holds 5 objects, \[token\] max_objects is 5; the new object is not stored" "$MTD_LOG" ||
    { tail -20 "$MTD_LOG" >&2; m2m_fail "no log line for the full token"; }
echo "ok: a logged-in client fills its token to max_objects (5): CKR_DEVICE_MEMORY, logged; session objects still made"
# three clients of the other token at once: its 2 places, no more
for i in 1 2 3; do
	client fill other 20 >"$M2M_TMP/fill.$i" 2>&1 &
	eval "FILL$i=\$!"
done
total=0
for i in 1 2 3; do
	eval "wait \$FILL$i" || m2m_fail "fill other $i: $(cat "$M2M_TMP/fill.$i")"
	read -r word n rv <"$M2M_TMP/fill.$i"
	[ "$word" = FILLED ] && [ "$rv" = CKR_DEVICE_MEMORY ] ||
	    m2m_fail "fill other $i: $(cat "$M2M_TMP/fill.$i")"
	total=$((total + n))
done
[ "$total" = 2 ] || m2m_fail "three clients of other made $total objects, want 2"
out=$(client count other fill) || m2m_fail "count other: $out"
[ "$out" = "COUNT 2" ] || m2m_fail "other: $out objects labelled fill, want 2"
out=$(client count sep fill) || m2m_fail "count sep: $out"
[ "$out" = "COUNT 2" ] || m2m_fail "sep: $out objects labelled fill, want 2"
echo "ok: with sep full, three clients of token other at once made its 2 remaining objects, no more"

# --- stop: workers get SIGTERM, both sockets go ---------------------------------
M2MTOKEN_DAEMON_SOCKET=$P11SOCK "$MTD_P11C" ghost sep >"$M2M_TMP/ghost2.out" 2>&1 &
G2=$!
m2m_defer kill -9 "$G2"
for ((i = 0; i < 100; i++)); do
	grep -q READY "$M2M_TMP/ghost2.out" && break
	sleep 0.1
done
mtd_finish
[ ! -e "$P11SOCK" ] || m2m_fail "the pkcs11 socket is left"
grep -q "pkcs11: worker [0-9]* (uid 0 pid $G2) \(exited\|killed\)" "$MTD_LOG" ||
    { tail -20 "$MTD_LOG" >&2; m2m_fail "no end of the last worker at stop"; }
echo "ok: at stop the workers end and the pkcs11 socket is removed"

# every worker ended with 0 (EOF) or its protocol error's code (1..7),
# none with a sanitizer's report
bad=$(grep -a "exited with status" "$MTD_LOG" | grep -v "exited with status [0-7]$" || true)
[ -z "$bad" ] || m2m_fail "workers ended badly: $bad"
! grep -aq "Sanitizer" "$MTD_LOG" || { grep -a -A20 Sanitizer "$MTD_LOG" >&2; m2m_fail "a sanitizer report in the daemon log"; }
echo "ok: $(grep -ac "exited with status" "$MTD_LOG") workers ended with 0 or their protocol error's code"
