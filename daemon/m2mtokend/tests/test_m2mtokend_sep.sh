#!/usr/bin/env bash
# The separation of client mode (issue 13 item 5): m2mtokend runs as its
# own uid with its configuration, PIN file, module configuration, store,
# SoftHSM2 token directory (and swtpm state) readable by it alone.  A
# client-mode process of an allowed other uid uses the daemon's key
# through PKCS#11 but gets no key value, no HSM PIN and no TPM state: as
# that uid the test reads (or fails to read) the daemon's files,
# /proc/<pid>/{environ,mem,maps,cmdline,...} of the daemon and of the
# worker serving it, tries ptrace (python and gdb -p) and
# C_GetAttributeValue(CKA_VALUE) of every object, and searches all it got
# for the key values (Kpsa, its E2E master, T(1): raw, lower and upper
# hex) and the HSM PIN.  A uid no tokens rule names gets no worker: its
# C_Initialize fails with the daemon's "denied" reason.
# Needs root (setpriv); usage: test_m2mtokend_sep.sh hsm|tpm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
. "$HERE/../../../tests/integration/lib.sh"
. "$HERE/mtd_lib.sh"

[ "$(id -u)" = 0 ] || m2m_fail "needs root (setpriv to other uids)"
command -v setpriv >/dev/null || m2m_fail "needs setpriv (util-linux)"
export M2MTOKEN_HSM_PIN=hsm-pin-$(openssl rand -hex 8)
m2m_setup "${1:?usage: test_m2mtokend_sep.sh hsm|tpm}"
MTD_P11C=${MTD_P11C:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_p11c}
DUID=64011	# the daemon's
CUID=64012	# a client a rule names
SUID=65534	# nobody: no rule names it
NOGROUP=65534
for u in $DUID $CUID; do
	! getent passwd $u >/dev/null || m2m_fail "uid $u is in use here"
done

# --- the daemon's files: its uid alone ------------------------------------------
T=$M2M_TMP
# What the other uids run, copied where they can reach it: the build tree
# may lie under a directory only root may enter (a clone in mktemp -d).
mkdir -m 0755 "$T/bin"
cp "$M2MTOKEND" "$MTD_P11C" "$M2MTOKEN_MODULE" "$HERE/mtd_snoop.py" "$T/bin/"
chmod 0755 "$T/bin"/*
M2MTOKEND=$T/bin/${M2MTOKEND##*/}
MTD_P11C=$T/bin/${MTD_P11C##*/}
M2MTOKEN_MODULE=$T/bin/${M2MTOKEN_MODULE##*/}
SNOOP=$T/bin/mtd_snoop.py
mkdir -m 0700 "$T/state" "$T/etc"
mkdir -m 0755 "$T/run"
mkdir -m 0700 "$T/client"	# what the client uid writes
chown $CUID "$T/client"
sed -i "s|^path = .*|path = $T/state/store.db|" "$M2MTOKEN_CONF"
KPSA=$(openssl rand -hex 32)
out=$("$MTD_P11C" setup sep "$KPSA") || m2m_fail "setup: $out"
MAC=${out#MAC }
printf 'user-pin-1234\n' >"$T/etc/m2mtokend.pin"
mv "$M2MTOKEN_CONF" "$T/etc/m2mtoken.conf"
M2MTOKEN_CONF=$T/etc/m2mtoken.conf
cat >"$T/etc/m2mtokend.conf" <<CONF
[daemon]
socket = $T/run/mtd.sock

[pkcs11]
socket = $T/run/pkcs11.sock
socket_group = nogroup
socket_mode = 0660

[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF
label = sep
pin_file = $T/etc/m2mtokend.pin

[caller client]
uid = $CUID
tokens = sep
CONF
chown -R $DUID:$DUID "$T/state" "$T/etc" "$T/run" "$T/softhsm" "$T/softhsm2.conf"
chmod 0400 "$T/etc/m2mtokend.pin"
chmod 0600 "$T/etc/m2mtokend.conf" "$T/etc/m2mtoken.conf" "$T/softhsm2.conf"
chmod -R go= "$T/state" "$T/softhsm"
[ ! -d "$T/tpmstate" ] || chmod -R go= "$T/tpmstate"
chmod 0711 "$T"		# others may pass through, not list

# the daemon: its uid, its group, and the socket's group
MTD_LOG=$T/mtd.log
setpriv --reuid=$DUID --regid=$DUID --groups=$NOGROUP \
    env -i PATH=/usr/bin:/bin SOFTHSM2_CONF="$T/softhsm2.conf" \
    M2MTOKEN_HSM_PIN="$M2MTOKEN_HSM_PIN" "$M2MTOKEND" -c "$T/etc/m2mtokend.conf" \
    </dev/null >"$MTD_LOG" 2>&1 &
DPID=$!
m2m_defer m2m_stop "$DPID"
for ((i = 0; i < 100; i++)); do
	grep -q 'm2mtokend: ready' "$MTD_LOG" && break
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.1
done
grep -q 'm2mtokend: ready' "$MTD_LOG" || { cat "$MTD_LOG" >&2; m2m_fail "the daemon did not start as uid $DUID"; }
[ "$(stat -c '%a %g' "$T/run/pkcs11.sock")" = "660 $NOGROUP" ] ||
    m2m_fail "pkcs11 socket: $(stat -c '%a %U:%G' "$T/run/pkcs11.sock")"
echo "ok: the daemon runs as uid $DUID; its files are its own"

# as_uid UID CMD...: CMD as UID (group nogroup, no other group), with
# nothing of this environment but the module and the socket
as_uid()
{
	local uid=$1
	shift
	setpriv --reuid="$uid" --regid=$NOGROUP --clear-groups \
	    env -i PATH=/usr/bin:/bin M2MTOKEN_MODULE="$M2MTOKEN_MODULE" \
	    M2MTOKEN_DAEMON_SOCKET="$T/run/pkcs11.sock" "$@"
}

# --- the allowed client uses the key ---------------------------------------------
out=$(as_uid $CUID "$MTD_P11C" slots) || m2m_fail "client slots: $out"
[ "$(head -1 <<<"$out")" = "SLOTS 1" ] || m2m_fail "client sees: $out"
m2m_expect_contains "$out" "TOKEN sep "
USE=$(as_uid $CUID "$MTD_P11C" use sep 3) || m2m_fail "client use: $USE"
m2m_expect_contains "$USE" "MAC $MAC"
! grep -q '^VALUE CKR_OK' <<<"$USE" || m2m_fail "a key value was read: $USE"
n=$(grep -c '^VALUE CKR_ATTRIBUTE_SENSITIVE$' <<<"$USE" || true)
[ "$n" -ge 3 ] || m2m_fail "CKA_VALUE of the keys: $USE"
echo "ok: uid $CUID MACs with the daemon's key; CKA_VALUE of its $n keys: CKR_ATTRIBUTE_SENSITIVE"

# --- a uid no rule names: refused at accept, no worker ------------------------------
out=$(as_uid $SUID "$MTD_P11C" slots 2>&1) && m2m_fail "uid $SUID (no rule) was served: $out"
m2m_expect_contains "$out" "refused the connection: denied: no [caller] rule with tokens names uid $SUID"
grep -q "pkcs11: uid $SUID pid [0-9]*: refused, no \[caller\] rule with tokens names it (no worker)" "$MTD_LOG" ||
    m2m_fail "no log line for uid $SUID"
! grep -q "pkcs11: uid $SUID pid [0-9]*: rule .*: worker" "$MTD_LOG" ||
    m2m_fail "uid $SUID got a worker"
echo "ok: uid $SUID (no rule) is refused at once, without a worker"

# --- what the client uid can read --------------------------------------------------
as_uid $CUID "$MTD_P11C" ghost sep >"$T/ghost.out" 2>&1 &
GHOST=$!
# $! is the subshell that runs as_uid: the client, which waits in pause()
# until killed, is its child (killing only the subshell left it running)
ghost_stop()
{
	pkill -KILL -P "$GHOST" 2>/dev/null || true
	kill -9 "$GHOST" 2>/dev/null || true
	wait "$GHOST" 2>/dev/null || true
}
m2m_defer ghost_stop
for ((i = 0; i < 100; i++)); do
	grep -q READY "$T/ghost.out" && break
	sleep 0.1
done
grep -q READY "$T/ghost.out" || m2m_fail "ghost: $(cat "$T/ghost.out")"
WPID=$(pgrep -P "$DPID" | head -1)
[ -n "$WPID" ] || m2m_fail "no worker under the daemon"
[ "$(stat -c %u /proc/"$WPID")" = "$DUID" ] || m2m_fail "the worker is not uid $DUID"
# not dumpable (PR_SET_DUMPABLE 0): the kernel gives their /proc files to root
for pid in $DPID $WPID; do
	[ "$(stat -c %u /proc/"$pid"/environ)" = 0 ] ||
	    m2m_fail "process $pid is dumpable (/proc/$pid/environ owned by $(stat -c %U /proc/"$pid"/environ))"
done
echo "ok: the daemon and its worker are not dumpable"

REPORT=$(as_uid $CUID python3 "$SNOOP" "$T/client/blob" "$DPID" "$WPID" -- \
    "$T/etc/m2mtokend.conf" "$T/etc/m2mtokend.pin" "$T/etc/m2mtoken.conf" \
    "$T/state" "$T/state/store.db" "$T/softhsm" "$T/softhsm2.conf" \
    "$T/tpmstate" "$T") || m2m_fail "snoop: $REPORT"
printf '%s\n' "$REPORT" | sed 's/^/  /'
for p in "$T/etc/m2mtokend.conf" "$T/etc/m2mtokend.pin" "$T/etc/m2mtoken.conf" \
    "$T/state" "$T/state/store.db" "$T/softhsm" "$T/softhsm2.conf" "$T" \
    /proc/$DPID/environ /proc/$DPID/mem /proc/$DPID/maps /proc/$DPID/fd \
    /proc/$WPID/environ /proc/$WPID/mem /proc/$WPID/maps /proc/$WPID/fd; do
	grep -q "^DENIED $p: " <<<"$REPORT" || m2m_fail "uid $CUID could read $p"
done
[ ! -d "$T/tpmstate" ] || grep -q "^DENIED $T/tpmstate: " <<<"$REPORT" ||
    m2m_fail "uid $CUID could read the swtpm state"
for pid in $DPID $WPID; do
	grep -q "^PTRACE $pid: denied" <<<"$REPORT" || m2m_fail "uid $CUID could ptrace $pid"
done
command -v gdb >/dev/null || m2m_fail "gdb not found (scripts/deps.txt)"
out=$(as_uid $CUID timeout 20 gdb -nx -batch -p "$DPID" -ex 'info registers' 2>&1) || true
! grep -q '^rip ' <<<"$out" || m2m_fail "gdb attached to the daemon"
m2m_expect_contains "$out" "ptrace: Operation not permitted"
echo "ok: gdb -p as uid $CUID: Operation not permitted"
echo "ok: uid $CUID cannot read the daemon's files, /proc environ, mem, maps or fds, nor ptrace it or its worker"

# --- no key or PIN byte in anything it got -------------------------------------------
salt=$(printf '%064d' 0)
MASTER=$(mtd_hmac "$salt" "$KPSA")
T1=$(mtd_hmac "$MASTER" "$(printf 'E2E Message Authentication Key\001' | mtd_hex)")
[ "$(mtd_hmac "$T1" "$(printf probe | mtd_hex)")" = "$MAC" ] ||
    m2m_fail "the test's own T(1) does not give the token's MAC"
{ printf '%s\n' "$USE"; cat "$T/client/blob"; as_uid $CUID "$MTD_P11C" slots; } >"$T/got"
[ -s "$T/got" ] || m2m_fail "nothing to search"
found=
for v in "$KPSA" "$MASTER" "$T1"; do
	for needle in "$v" "${v^^}"; do
		! grep -qF "$needle" "$T/got" || found+=" hex:${needle:0:8}"
	done
done
! grep -qF "$M2MTOKEN_HSM_PIN" "$T/got" || found+=" the HSM PIN"
[ -z "$found" ] || m2m_fail "the client uid got:$found"
# positive control: the raw search finds a planted key
cp "$T/got" "$T/control"
python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$KPSA" >>"$T/control"
python3 - "$T/control" "$KPSA" <<'PY' || m2m_fail "the raw search does not find a planted key"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(0 if bytes.fromhex(sys.argv[2]) in data else 1)
PY
python3 - "$T/got" "$KPSA" "$MASTER" "$T1" <<'PY' || m2m_fail "raw key bytes in what the client uid got"
import sys
data = open(sys.argv[1], "rb").read()
sys.exit(1 if any(bytes.fromhex(v) in data for v in sys.argv[2:]) else 0)
PY
echo "ok: no key value (raw or hex) and no HSM PIN in the $(wc -c <"$T/got") bytes uid $CUID got"

ghost_stop
kill -TERM "$DPID"
rc=0; wait "$DPID" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$MTD_LOG" >&2; m2m_fail "the daemon exited $rc"; }
! grep -aq "Sanitizer" "$MTD_LOG" || { cat "$MTD_LOG" >&2; m2m_fail "a sanitizer report in the daemon log"; }
echo "ok: the daemon stopped cleanly"
