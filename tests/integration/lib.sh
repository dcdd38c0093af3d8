# shellcheck shell=bash
# Library for the integration tests: source it, then call m2m_setup.
#
#   m2m_setup hsm|tpm    temp dir, SoftHSM2 backing token "m2m-backing",
#                        store, M2MTOKEN_CONF; for tpm also a private swtpm
#                        on a free loopback port pair
#   m2m_cleanup          stop swtpm and whatever m2m_defer registered, remove
#                        the temp dir; runs on EXIT, INT and TERM by itself
#   m2m_defer CMD...     run CMD at cleanup (before swtpm is stopped)
#   m2m_p11tool ARGS...  pkcs11-tool --module "$M2MTOKEN_MODULE" ARGS...
#   m2m_p11tool_token LABEL SO_PIN USER_PIN   a token on the free slot
#   m2m_ext CMD...       an external program that loads the module (ASan
#                        runtime preloaded for an ASan build)
#   m2m_engine_conf FILE an openssl.cnf in FILE loading libp11's engine on
#                        the module ("-engine pkcs11 -keyform engine")
#   m2m_fail MSG         print MSG and exit 1
#   m2m_expect_contains "$out" TEXT
#   m2m_start_p11srv [FRAME_MAX [STALL_S]]
#                        client mode: p11srv_harness (m2mtokend's worker
#                        without the daemon) serves M2MTOKEN_CONF on a Unix
#                        socket in M2M_TMP; exports M2MTOKEN_DAEMON_SOCKET,
#                        so every module loaded afterwards is a client;
#                        stopped at cleanup (tests of the worker alone;
#                        the clientmode.* reruns use the real daemon:
#                        below).
#
# Environment in: M2MTOKEN_MODULE (path of libm2mtoken.so; CMake passes it),
# M2M_BUILD, M2M_SRC, M2MTOKEN_HSM_PIN (default 1234).
# Environment out: M2M_TMP, M2M_BACKEND, SOFTHSM2_CONF, M2MTOKEN_CONF,
# M2MTOKEN_HSM_PIN, M2M_SO_PIN, and for tpm M2M_SWTPM_PORT, M2M_TCTI.
#
# Client mode (M2M_CLIENT_MODE=1, set by the clientmode.* ctests): m2m_setup
# also starts a real m2mtokend that serves only client mode on
# $M2M_TMP/pkcs11.sock, with M2MTOKEN_CONF as its module's configuration,
# and exports M2MTOKEN_DAEMON_SOCKET, so that every module the test loads
# forwards its calls there (M2M_MTD_PID, M2M_MTD_LOG: its pid and log).
# The daemon reads M2MTOKEN_CONF again for each connection, so a test that
# edits that file sees the change at its next C_Initialize, as in local
# mode.  m2m_client_mode: true in client mode.
set -euo pipefail

M2M_SRC=${M2M_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}
M2M_BUILD=${M2M_BUILD:-$M2M_SRC/build}
M2MTOKEN_MODULE=${M2MTOKEN_MODULE:-$M2M_BUILD/libm2mtoken.so}
export M2M_SRC M2M_BUILD M2MTOKEN_MODULE

M2M_SOFTHSM_MODULE=${M2M_SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
M2M_TMP=
M2M_SWTPM_PID=
M2M_DEFERRED=()

m2m_log()
{
	printf '[%s] %s\n' "${0##*/}" "$*" >&2
}

m2m_fail()
{
	printf '[%s] FAIL: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

m2m_expect_contains()
{
	local out=$1 text=$2

	if [[ $out != *"$text"* ]]; then
		printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
		m2m_fail "expected the output above to contain: $text"
	fi
}

m2m_p11tool()
{
	pkcs11-tool --module "$M2MTOKEN_MODULE" "$@"
}

# m2m_p11tool_token LABEL SO_PIN USER_PIN: pkcs11-tool initialises the
# first uninitialised slot as LABEL (C_InitToken) and sets the user PIN
# (C_InitPIN); sets slot to the slot it used.
m2m_p11tool_token()
{
	local slots

	slots=$(m2m_p11tool --list-slots 2>&1) ||
	    m2m_fail "pkcs11-tool --list-slots failed: $slots"
	slot=$(awk '/^Slot [0-9]+ \(0x[0-9a-fA-F]+\)/ { s = $3 }
	    /token state: +uninitialized/ { gsub(/[()]/, "", s); print s; exit }' \
	    <<<"$slots")
	[ -n "$slot" ] || m2m_fail "no uninitialised slot in: $slots"
	m2m_p11tool --slot "$slot" --init-token --label "$1" \
	    --so-pin "$2" >/dev/null 2>&1 || m2m_fail "--init-token failed"
	m2m_p11tool --token-label "$1" --login --login-type so \
	    --so-pin "$2" --init-pin --pin "$3" >/dev/null 2>&1 ||
	    m2m_fail "--init-pin failed"
}

# m2m_ext CMD...: run an external program that loads the module
# (pkcs11-tool, openssl with libp11's engine); when the module is an ASan
# build, with the ASan runtime preloaded (it must come first).
m2m_ext()
{
	local asan

	asan=$(ldd "$M2MTOKEN_MODULE" 2>/dev/null | awk '/libasan/ { print $3 }')
	if [ -n "$asan" ]; then
		LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0 "$@"
	else
		"$@"
	fi
}

# m2m_engine_conf FILE: an openssl.cnf in FILE that loads libp11's engine
# (engine_id pkcs11) on the module, for "-engine pkcs11 -keyform engine".
m2m_engine_conf()
{
	cat >"$1" <<CONF
openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = $M2MTOKEN_MODULE
init = 0
CONF
}

m2m_defer()
{
	M2M_DEFERRED+=("$(printf '%q ' "$@")")
}

# m2m_stop PID: TERM, wait up to 5 s, then KILL.  Its exit status (a child
# of this shell) in M2M_STOP_RC, 0 when it was not running.
m2m_stop()
{
	local pid=$1 i

	M2M_STOP_RC=0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || M2M_STOP_RC=$?
}

m2m_cleanup()
{
	local rc=$? i
	local -

	set +e
	trap - EXIT INT TERM
	for ((i = ${#M2M_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${M2M_DEFERRED[i]}"
	done
	M2M_DEFERRED=()
	# a deferred check that failed (m2m_stop_mtd) fails the test
	if [ -n "${M2M_CHECK_FAILED:-}" ] && [ "$rc" -eq 0 ]; then
		echo "FAIL: a process the test started ended badly (above)" >&2
		rc=1
	fi
	if [ -n "$M2M_SWTPM_PID" ]; then
		m2m_stop "$M2M_SWTPM_PID"
		M2M_SWTPM_PID=
	fi
	if [ -n "$M2M_TMP" ] && [ -d "$M2M_TMP" ]; then
		if [ -r "$M2M_TMP/watchdog.pid" ]; then
			kill -TERM "$(cat "$M2M_TMP/watchdog.pid")" 2>/dev/null
		fi
		if [ "$rc" -ne 0 ] && [ -s "$M2M_TMP/swtpm.log" ]; then
			m2m_log "swtpm log (last lines):"
			tail -n 20 "$M2M_TMP/swtpm.log" >&2
		fi
		rm -rf "$M2M_TMP"
		M2M_TMP=
	fi
	return "$rc"
}
trap m2m_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# m2m_free_port_pair: print a port P such that P and P+1 are free on
# 127.0.0.1 right now (someone may still take them before we bind: callers
# retry).
m2m_free_port_pair()
{
	# Below the kernel's ephemeral range (32768-60999 by default), which
	# swtpm's per-command reconnects fill with TIME_WAIT sockets; with
	# SO_REUSEADDR, as the servers we start (swtpm, openssl) bind.
	python3 - <<'PY'
import random, socket
def free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(1000):
    port = random.randrange(20000, 32000, 2)
    if free(port) and free(port + 1):
        print(port)
        raise SystemExit(0)
raise SystemExit("no free port pair found")
PY
}

# m2m_port_open PORT: true when something accepts on 127.0.0.1:PORT.
m2m_port_open()
{
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

m2m_start_swtpm()
{
	local attempt port i

	mkdir -p "$M2M_TMP/tpmstate"
	for ((attempt = 1; attempt <= 10; attempt++)); do
		port=$(m2m_free_port_pair) || m2m_fail "no free port pair"
		# Output goes to a file: an orphan must never hold ctest's pipe.
		swtpm socket --tpm2 \
		    --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		    --tpmstate "dir=$M2M_TMP/tpmstate" \
		    --flags not-need-init,startup-clear \
		    </dev/null >>"$M2M_TMP/swtpm.log" 2>&1 &
		M2M_SWTPM_PID=$!
		echo "$M2M_SWTPM_PID" >"$M2M_TMP/swtpm.pid"
		for ((i = 0; i < 100; i++)); do
			if ! kill -0 "$M2M_SWTPM_PID" 2>/dev/null; then
				break	# exited: most likely a port collision
			fi
			if m2m_port_open "$((port + 1))" &&
			    m2m_port_open "$port"; then
				M2M_SWTPM_PORT=$port
				M2M_TCTI="swtpm:host=127.0.0.1,port=$port"
				export M2M_SWTPM_PORT M2M_TCTI
				# swtpm locks after 3 bad authorisations; the
				# token counts to max_pin_tries (5) itself, so
				# give the TPM's dictionary-attack counter room
				tpm2_dictionarylockout -s -n 32 -t 600 -l 600 \
				    -T "$M2M_TCTI" >/dev/null 2>&1 ||
				    m2m_fail "cannot set swtpm's DA parameters"
				return 0
			fi
			sleep 0.1
		done
		m2m_stop "$M2M_SWTPM_PID"
		M2M_SWTPM_PID=
		m2m_log "swtpm did not come up on port $port (attempt $attempt)"
	done
	m2m_fail "could not start swtpm"
}

# If this shell dies without running its traps (SIGKILL, e.g. when ctest
# kills a test's process tree on a timeout), a watchdog stops swtpm and
# removes the temp dir. It is detached (double fork, own session) so that
# the kill does not reach it, and it ends by itself with this shell.
m2m_watchdog()
{
	(setsid bash -c '
		echo "$$" >"$2/watchdog.pid"
		while kill -0 "$1" 2>/dev/null; do
			sleep 1
		done
		if [ -r "$2/swtpm.pid" ]; then
			pid=$(cat "$2/swtpm.pid")
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != swtpm ] ||
			    kill -KILL "$pid"
		fi
		if [ -r "$2/mtd.pid" ]; then
			pid=$(cat "$2/mtd.pid")
			[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != m2mtokend ] ||
			    kill -TERM "$pid"
		fi
		rm -rf "$2"' m2m-watchdog "$$" "$M2M_TMP" \
	    </dev/null >/dev/null 2>&1 &)
}

m2m_setup()
{
	local backend=${1:-}

	case $backend in
	hsm | tpm) ;;
	*) m2m_fail "usage: m2m_setup hsm|tpm (got '$backend')" ;;
	esac
	[ -z "$M2M_TMP" ] || m2m_fail "m2m_setup called twice"
	[ -f "$M2MTOKEN_MODULE" ] ||
	    m2m_fail "module not found: $M2MTOKEN_MODULE (build first)"
	[ -f "$M2M_SOFTHSM_MODULE" ] ||
	    m2m_fail "SoftHSM2 not found: $M2M_SOFTHSM_MODULE"

	M2M_BACKEND=$backend
	M2M_TMP=$(mktemp -d "${TMPDIR:-/tmp}/m2m-test.XXXXXXXX")
	m2m_watchdog
	M2MTOKEN_HSM_PIN=${M2MTOKEN_HSM_PIN:-1234}
	M2M_SO_PIN=5678
	export M2M_BACKEND M2M_TMP M2MTOKEN_HSM_PIN M2M_SO_PIN

	# The backing HSM: a private SoftHSM2 token directory.
	mkdir "$M2M_TMP/softhsm"
	cat >"$M2M_TMP/softhsm2.conf" <<-CONF
	directories.tokendir = $M2M_TMP/softhsm
	objectstore.backend = file
	log.level = ERROR
	slots.removable = false
	CONF
	export SOFTHSM2_CONF=$M2M_TMP/softhsm2.conf
	softhsm2-util --init-token --free --label m2m-backing \
	    --pin "$M2MTOKEN_HSM_PIN" --so-pin "$M2M_SO_PIN" >/dev/null ||
	    m2m_fail "softhsm2-util --init-token failed"

	if [ "$backend" = tpm ]; then
		m2m_start_swtpm
	fi

	{
		printf '[store]\npath = %s\n\n' "$M2M_TMP/store.db"
		printf '[backend]\ntype = %s\n\n' "$backend"
		printf '[hsm]\nmodule = %s\n' "$M2M_SOFTHSM_MODULE"
		printf 'token_label = m2m-backing\n'
		printf 'pin = env:M2MTOKEN_HSM_PIN\n'
		if [ "$backend" = tpm ]; then
			printf '\n[tpm]\ntcti = %s\n' "$M2M_TCTI"
		fi
	} >"$M2M_TMP/m2mtoken.conf"
	export M2MTOKEN_CONF=$M2M_TMP/m2mtoken.conf
	if m2m_client_mode; then
		m2m_start_mtd_pkcs11
	fi
}

m2m_client_mode()
{
	[ "${M2M_CLIENT_MODE:-0}" = 1 ]
}

# m2m_start_mtd_pkcs11: m2mtokend serving client mode only, for this
# uid, every token visible; stopped at cleanup.
m2m_start_mtd_pkcs11()
{
	local mtd=${M2MTOKEND:-$M2M_BUILD/daemon/m2mtokend/m2mtokend} i

	[ -x "$mtd" ] || m2m_fail "m2mtokend not found: $mtd (build first)"
	{
		printf '[daemon]\nsocket = %s\n\n' "$M2M_TMP/mtd.sock"
		printf '[token]\nmodule = %s\nconfig = %s\n\n' \
		    "$M2MTOKEN_MODULE" "$M2MTOKEN_CONF"
		printf '[pkcs11]\nsocket = %s\nsocket_mode = 0600\n\n' \
		    "$M2M_TMP/pkcs11.sock"
		printf '[caller tests]\nuid = %s\ntokens = *\n' "$(id -u)"
	} >"$M2M_TMP/m2mtokend.conf"
	# the daemon refuses files others may read
	chmod 600 "$M2M_TMP/m2mtokend.conf" "$M2MTOKEN_CONF"
	M2M_MTD_LOG=$M2M_TMP/m2mtokend.log
	(unset M2MTOKEN_DAEMON_SOCKET
	 exec "$mtd" -c "$M2M_TMP/m2mtokend.conf" </dev/null \
	    >>"$M2M_MTD_LOG" 2>&1) &
	M2M_MTD_PID=$!
	echo "$M2M_MTD_PID" >"$M2M_TMP/mtd.pid"
	m2m_defer m2m_stop_mtd
	for ((i = 0; i < 100; i++)); do
		grep -q 'm2mtokend: ready' "$M2M_MTD_LOG" 2>/dev/null && break
		kill -0 "$M2M_MTD_PID" 2>/dev/null ||
		    { cat "$M2M_MTD_LOG" >&2; m2m_fail "m2mtokend exited"; }
		sleep 0.1
	done
	[ -S "$M2M_TMP/pkcs11.sock" ] ||
	    { cat "$M2M_MTD_LOG" >&2; m2m_fail "m2mtokend did not start"; }
	export M2M_MTD_PID M2M_MTD_LOG
	export M2MTOKEN_DAEMON_SOCKET=$M2M_TMP/pkcs11.sock
	m2m_log "client mode: m2mtokend $M2M_MTD_PID on $M2MTOKEN_DAEMON_SOCKET"
}

# m2m_bad_ends LOG: the lines of LOG that tell of a worker that crashed or
# ended with an unexpected status (m2mtokend's and p11srv_harness's own
# words), or of a sanitizer report.  TERM and KILL are how the tests stop
# workers; statuses 0 to 7 are a connection's ordinary ends.
m2m_bad_ends()
{
	grep -a -e "killed by signal" -e "exited with status" \
	    -e "Sanitizer" -e "runtime error" "$1" 2>/dev/null |
	    grep -a -v -E "(killed by signal (9|15)|exited with status [0-7])$" \
	    || true
}

# m2m_stop_mtd: stop the client-mode daemon; on a failed test show the
# end of its log (the module's own error lines are there in client mode).
# The daemon must end with status 0 on TERM, its workers with 0 or a
# protocol error's code (1..7) or TERM/KILL at the stop, and no sanitizer
# may have reported: else the test fails (M2M_CHECK_FAILED).
m2m_stop_mtd()
{
	local rc bad

	m2m_stop "$M2M_MTD_PID"
	rc=$M2M_STOP_RC
	bad=$(m2m_bad_ends "$M2M_MTD_LOG")
	if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
		m2m_log "m2mtokend ended badly (status $rc): ${bad:-}"
		M2M_CHECK_FAILED=1
	fi
	if [ -s "$M2M_MTD_LOG" ]; then
		m2m_log "m2mtokend log (last lines):"
		tail -n 20 "$M2M_MTD_LOG" >&2
	fi
}

# m2m_stop_group PID: m2m_stop for a process group leader and its group.
m2m_stop_group()
{
	kill -TERM -- "-$1" 2>/dev/null || true
	m2m_stop "$1"
}

# m2m_stop_p11srv PID: stop a p11srv_harness started in its own process
# group (the harness and its workers), then fail the test
# (M2M_CHECK_FAILED) if its log, $M2M_TMP/p11srv.log, tells of a worker
# that crashed or of a sanitizer report (m2m_bad_ends).
m2m_stop_p11srv()
{
	local bad

	m2m_stop_group "$1"
	bad=$(m2m_bad_ends "$M2M_TMP/p11srv.log")
	if [ -n "$bad" ]; then
		m2m_log "p11srv_harness or a worker ended badly: $bad"
		M2M_CHECK_FAILED=1
	fi
}

m2m_start_p11srv()
{
	local harness=${M2M_P11SRV_HARNESS:-$M2M_BUILD/daemon/m2mtokend/tests/p11srv_harness}
	local sock=$M2M_TMP/p11.sock pid i

	[ -x "$harness" ] || m2m_fail "p11srv_harness not found: $harness"
	# Its own process group: the workers stop with it.
	env -u M2MTOKEN_DAEMON_SOCKET setsid "$harness" "$sock" "$@" \
	    </dev/null >>"$M2M_TMP/p11srv.log" 2>&1 &
	pid=$!
	m2m_defer m2m_stop_p11srv "$pid"
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	[ -S "$sock" ] || m2m_fail "p11srv_harness did not start" \
	    "($(cat "$M2M_TMP/p11srv.log" 2>/dev/null))"
	M2M_P11SRV_PID=$pid
	export M2MTOKEN_DAEMON_SOCKET=$sock M2M_P11SRV_PID
}
