#!/usr/bin/env bash
# Holding m2mtokend's sockets from another uid (docs/security-model.md,
# "The daemon and the MEF" and "Client mode"): uid nobody, a member of
# both sockets' group with a [caller] rule but no PIN, tries to take every
# worker and connection with raw clients (mtd_dos.py) while root, the
# good client, calls C_Initialize (mtd_p11c) and Status (the CLI).
#   - client mode: connections that send no HELLO end at [pkcs11]
#     hello_timeout; one that goes quiet after HELLO ends at [pkcs11]
#     idle_timeout; a uid no tokens rule names (64013) gets a denied
#     frame and no worker;
#   - both sockets: nobody gets max_clients_per_uid workers and
#     max_connections_per_uid flow connections, no more (busy, closed),
#     and root is served meanwhile;
#   - flow socket: a frame trickled a blank at a time is closed
#     [daemon] idle_timeout after its first byte;
#   - a flood of refused connections on either socket logs one line a
#     second, the next one saying how many were not logged.
# Needs root (setpriv); usage: test_m2mtokend_dos.sh hsm|tpm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
. "$HERE/../../../tests/integration/lib.sh"
. "$HERE/mtd_lib.sh"

[ "$(id -u)" = 0 ] || m2m_fail "needs root (setpriv to uid nobody)"
command -v setpriv >/dev/null || m2m_fail "needs setpriv (util-linux)"
m2m_setup "${1:?usage: test_m2mtokend_dos.sh hsm|tpm}"
MTD_P11C=${MTD_P11C:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_p11c}
NOBODY=65534
STRANGER=64013	# no rule names it
P11SOCK=$M2M_TMP/p11.sock
HELLO_S=3
IDLE11_S=3

out=$("$MTD_P11C" setup sep "$(openssl rand -hex 32)") || m2m_fail "setup: $out"
MAC=${out#MAC }

# what nobody runs: readable by it, in a directory it may enter
mkdir -m 0755 "$M2M_TMP/pub"
cp "$HERE/mtd_dos.py" "$M2M_TMP/pub/"
chmod 0711 "$M2M_TMP"

cat >"$M2M_TMP/dos.conf" <<CONF
[daemon]
socket = $M2M_TMP/mtd.sock
socket_group = nogroup
socket_mode = 0660
max_connections = 4
max_connections_per_uid = 2
idle_timeout = 2

[pkcs11]
socket = $P11SOCK
socket_group = nogroup
socket_mode = 0660
max_clients = 4
max_clients_per_uid = 2
hello_timeout = $HELLO_S
idle_timeout = $IDLE11_S

[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF

[caller root]
uid = 0
methods = *
keys = *
tokens = sep

[caller nobody]
uid = $NOBODY
methods = io.m2mtoken.Status
tokens = nothing-here
CONF
chmod 600 "$M2M_TMP/dos.conf"
chmod o= "$M2MTOKEN_CONF"
mtd_start "$M2M_TMP/dos.conf"

# as_nobody ARGS...: mtd_dos.py as uid nobody (group nogroup only);
# as_stranger ARGS...: the same as uid STRANGER (group nogroup).  Both exec
# (so that $! of "as_nobody ... &" is the client's pid): call them in a
# subshell, never bare.
as_nobody()
{
	exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
	    env -i PATH=/usr/bin:/bin python3 "$M2M_TMP/pub/mtd_dos.py" "$@"
}
as_stranger()
{
	exec setpriv --reuid=$STRANGER --regid=$NOBODY --clear-groups \
	    env -i PATH=/usr/bin:/bin python3 "$M2M_TMP/pub/mtd_dos.py" "$@"
}

# wait_ready FILE PID: until FILE says READY (or PID ended)
wait_ready()
{
	local i

	for ((i = 0; i < 100; i++)); do
		grep -q '^READY' "$1" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	cat "$1" >&2
	m2m_fail "the raw clients did not get ready"
}

# good_p11 SECONDS: root's C_Initialize and a MAC, tried until it works
# or SECONDS pass; prints the seconds it took
good_p11()
{
	local t0=$SECONDS out

	while :; do
		out=$(M2MTOKEN_DAEMON_SOCKET=$P11SOCK "$MTD_P11C" use sep 1 2>&1) &&
		    [[ $out == *"MAC $MAC"* ]] && break
		((SECONDS - t0 < $1)) || { printf '%s\n' "$out" >&2; return 1; }
		sleep 0.2
	done
	echo $((SECONDS - t0))
}

# --- client mode: silent connections end at the HELLO deadline -------------
as_nobody p11 "$P11SOCK" 4 silent $((HELLO_S + 5)) >"$M2M_TMP/silent.out" 2>&1 &
RAW=$!
m2m_defer kill -9 "$RAW"
wait_ready "$M2M_TMP/silent.out" "$RAW"
took=$(good_p11 $((HELLO_S + 5))) ||
    m2m_fail "root's C_Initialize failed while uid nobody held silent connections"
wait "$RAW" || m2m_fail "raw clients: $(cat "$M2M_TMP/silent.out")"
held=$(sed -n 's/^HELD //p' "$M2M_TMP/silent.out")
[ "$held" -ge 1 ] || m2m_fail "no silent connection was held: $(cat "$M2M_TMP/silent.out")"
n=$(grep -c "^ENDED stalled: no HELLO within $HELLO_S s (\[pkcs11\] hello_timeout) after" "$M2M_TMP/silent.out" || true)
[ "$n" = "$held" ] || m2m_fail "silent connections not ended at the HELLO deadline: $(cat "$M2M_TMP/silent.out")"
grep -q "protocol error 'stalled' (id 0): no HELLO within $HELLO_S s" "$MTD_LOG" ||
    m2m_fail "no log line for the HELLO deadline"
echo "ok: $held silent connections of uid nobody ended at the HELLO deadline; root's C_Initialize worked after ${took} s"

# --- client mode: quiet after HELLO, ended at [pkcs11] idle_timeout ----------
out=$( as_nobody p11 "$P11SOCK" 1 hello $((IDLE11_S + 5))) || m2m_fail "idle client: $out"
m2m_expect_contains "$out" "HELD 1"
m2m_expect_contains "$out" "ENDED stalled: no call for $IDLE11_S s ([pkcs11] idle_timeout) after"
t=$(sed -n 's/^ENDED .* after \([0-9.]*\) s$/\1/p' <<<"$out")
python3 -c "import sys; sys.exit(not ($IDLE11_S - 0.5 <= $t <= $IDLE11_S + 2))" ||
    m2m_fail "ended after $t s, idle_timeout $IDLE11_S"
echo "ok: a connection quiet after HELLO ended after $t s ([pkcs11] idle_timeout $IDLE11_S)"

# --- client mode: a uid holds max_clients_per_uid workers, no more ----------------
as_nobody p11 "$P11SOCK" 4 hello $((IDLE11_S + 3)) >"$M2M_TMP/cap.out" 2>&1 &
RAW=$!
m2m_defer kill -9 "$RAW"
wait_ready "$M2M_TMP/cap.out" "$RAW"
took=$(good_p11 1) ||
    m2m_fail "root's C_Initialize failed while uid nobody held its connections: $(cat "$M2M_TMP/cap.out")"
wait "$RAW" || m2m_fail "raw clients: $(cat "$M2M_TMP/cap.out")"
grep -q '^HELD 2$' "$M2M_TMP/cap.out" || m2m_fail "not 2 held: $(cat "$M2M_TMP/cap.out")"
n=$(grep -c "^REFUSED busy: uid $NOBODY has 2 connections already (\[pkcs11\] max_clients_per_uid)$" "$M2M_TMP/cap.out" || true)
[ "$n" = 2 ] || m2m_fail "connections 3 and 4 of uid nobody not refused: $(cat "$M2M_TMP/cap.out")"
grep -q "pkcs11: uid $NOBODY pid [0-9]*: busy, 2 workers of this uid run (raise \[pkcs11\] max_clients_per_uid?)" "$MTD_LOG" ||
    m2m_fail "no log line for the cap per uid"
echo "ok: uid nobody got 2 workers of 4 (max_clients_per_uid), the rest busy; root's C_Initialize worked meanwhile"

# --- flow socket: a uid holds max_connections_per_uid, no more ---------------------
as_nobody flow "$M2M_TMP/mtd.sock" 4 1.5 >"$M2M_TMP/flowcap.out" 2>&1 &
RAW=$!
m2m_defer kill -9 "$RAW"
wait_ready "$M2M_TMP/flowcap.out" "$RAW"
out=$(mtd_cli status 2>&1) ||
    m2m_fail "root's Status failed while uid nobody held its connections: $out"
wait "$RAW" || m2m_fail "raw clients: $(cat "$M2M_TMP/flowcap.out")"
grep -q '^HELD 2$' "$M2M_TMP/flowcap.out" || m2m_fail "not 2 held: $(cat "$M2M_TMP/flowcap.out")"
[ "$(grep -c '^REFUSED$' "$M2M_TMP/flowcap.out")" = 2 ] ||
    m2m_fail "flow connections 3 and 4 of uid nobody not closed: $(cat "$M2M_TMP/flowcap.out")"
grep -q "uid $NOBODY pid [0-9]*: 2 connections of this uid: a new one is closed (raise \[daemon\] max_connections_per_uid?)" "$MTD_LOG" ||
    m2m_fail "no log line for the flow cap per uid"
echo "ok: uid nobody got 2 flow connections of 4 (max_connections_per_uid), the rest closed; root's Status worked meanwhile"

# --- flow socket: a frame must be whole within idle_timeout of its first byte ----
# (uid nobody's 2 connections, each sending a blank every 0.5 s; before, each
# byte restarted the idle timer and they stayed open for ever)
as_nobody trickle "$M2M_TMP/mtd.sock" 8 >"$M2M_TMP/trickle1.out" 2>&1 &
T1=$!
m2m_defer kill -9 "$T1"
as_nobody trickle "$M2M_TMP/mtd.sock" 8 >"$M2M_TMP/trickle2.out" 2>&1 &
T2=$!
m2m_defer kill -9 "$T2"
wait "$T1" || m2m_fail "trickle: $(cat "$M2M_TMP/trickle1.out")"
wait "$T2" || m2m_fail "trickle: $(cat "$M2M_TMP/trickle2.out")"
for f in "$M2M_TMP/trickle1.out" "$M2M_TMP/trickle2.out"; do
	t=$(sed -n 's/^CLOSED after \([0-9.]*\) s$/\1/p' "$f")
	[ -n "$t" ] || m2m_fail "a trickling client was not closed: $(cat "$f")"
	python3 -c "import sys; sys.exit(not (1.5 <= $t <= 4))" ||
	    m2m_fail "a trickling client closed after $t s, idle_timeout 2"
done
grep -q "uid $NOBODY pid [0-9]*: a frame not finished within 2 s of its first byte, closed" "$MTD_LOG" ||
    m2m_fail "no log line for the frame deadline"
out=$(mtd_cli status 2>&1) || m2m_fail "root's Status after the tricklers: $out"
echo "ok: flow frames trickled a blank at a time closed after $t s (idle_timeout 2, from the first byte)"

# --- client mode: a uid no tokens rule names gets no worker ----------------------
out=$( as_stranger p11 "$P11SOCK" 2 hello 1) || m2m_fail "stranger: $out"
m2m_expect_contains "$out" "HELD 0"
n=$(grep -c "^REFUSED denied: no \[caller\] rule with tokens names uid $STRANGER$" <<<"$out" || true)
[ "$n" = 2 ] || m2m_fail "uid $STRANGER not refused twice: $out"
n=$(grep -c "pkcs11: uid $STRANGER pid [0-9]*: refused, no \[caller\] rule with tokens names it (no worker)" "$MTD_LOG" || true)
[ "$n" -ge 1 ] || m2m_fail "no log line for uid $STRANGER"
! grep -q "pkcs11: uid $STRANGER pid [0-9]*: rule .*: worker" "$MTD_LOG" ||
    m2m_fail "uid $STRANGER got a worker"
echo "ok: uid $STRANGER (no tokens rule) is refused at accept (denied), no worker started"

# --- a flood of refusals: one log line a second, then the count -------------------
# flood KIND LINE: uid nobody holds its 2 connections and has 28 more refused
# at once, then one more 1.2 s later; the log gets at most 2 lines of LINE for
# the 28 and, for the last one, a line saying how many were not logged
flood()
{
	local kind=$1 line=$2 before n dropped lines

	before=$(wc -l <"$MTD_LOG")
	if [ "$kind" = p11 ]; then
		as_nobody p11 "$P11SOCK" 30 hello 2.5 >"$M2M_TMP/flood.out" 2>&1 &
	else
		as_nobody flow "$M2M_TMP/mtd.sock" 30 1.5 >"$M2M_TMP/flood.out" 2>&1 &
	fi
	RAW=$!
	m2m_defer kill -9 "$RAW"
	wait_ready "$M2M_TMP/flood.out" "$RAW"
	grep -q '^HELD 2$' "$M2M_TMP/flood.out" || m2m_fail "$kind flood: $(cat "$M2M_TMP/flood.out")"
	n=$(tail -n +$((before + 1)) "$MTD_LOG" | grep -c "$line" || true)
	[ "$n" -ge 1 ] && [ "$n" -le 2 ] ||
	    { tail -n +$((before + 1)) "$MTD_LOG" | head -40 >&2; m2m_fail "$kind: $n log lines for 28 refusals"; }
	sleep 1.2
	if [ "$kind" = p11 ]; then
		(as_nobody p11 "$P11SOCK" 1 hello 0 >/dev/null)
	else
		(as_nobody flow "$M2M_TMP/mtd.sock" 1 0 >/dev/null)
	fi
	wait "$RAW" || m2m_fail "$kind flood: $(cat "$M2M_TMP/flood.out")"
	# every refusal is a line or counted in the next line's "(N more ...)"
	# (a flood slower than a second, on a loaded machine or under ASan, has
	# 2 lines; the first may also count refusals of an earlier check)
	lines=$(tail -n +$((before + 1)) "$MTD_LOG" | grep "$line")
	dropped=$(sed -n 's/.* (\([0-9]*\) more like it not logged)$/\1/p' \
	    <<<"$lines" | awk '{ s += $1 } END { print s + 0 }')
	n=$(grep -c . <<<"$lines")
	[ $((n + dropped)) -ge 29 ] &&
	    grep -q ' more like it not logged)$' <<<"$(tail -1 <<<"$lines")" ||
	    { echo "$lines" >&2; m2m_fail "$kind: $n lines and $dropped counted as not logged for 29 refusals, or the last line counts none"; }
	echo "ok: $kind: 29 refusals of uid nobody, $n log lines, $dropped of them counted as not logged"
}
flood p11 "pkcs11: uid $NOBODY pid [0-9]*: busy, 2 workers of this uid run"
flood flow "uid $NOBODY pid [0-9]*: 2 connections of this uid: a new one is closed"

mtd_finish
bad=$(m2m_bad_ends "$MTD_LOG")
[ -z "$bad" ] || m2m_fail "workers ended badly: $bad"
