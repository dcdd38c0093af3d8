# shellcheck shell=bash
# Helpers of the m2mtokend integration tests (sourced after
# tests/integration/lib.sh and m2m_setup).
#
#   mtd_token LABEL              initialise the m2mtoken token LABEL
#   mtd_conf FILE [SECTIONS...]  a daemon config on that token; the extra
#                                text (stdin) is appended
#   mtd_start CONF               start m2mtokend; sets MTD_PID, MTD_SOCK, MTD_LOG
#   mtd_cli ARGS...              the m2mtoken CLI on MTD_SOCK
#   mtd_hmac KEYHEX DATAHEX      HMAC-SHA-256 with openssl, lower hex
#   mtd_json FIELD               a member of the JSON object on stdin
#   mtd_mef_daemon WHO SECTION   (re)start m2mtokend WHO as a client of the
#                                m2m-mef of tests/mef/mef_lib.sh
M2MTOKEND=${M2MTOKEND:-$M2M_BUILD/daemon/m2mtokend/m2mtokend}
M2MTOKEN_CLI=${M2MTOKEN_CLI:-$M2M_BUILD/daemon/cli/m2mtoken}
MTD_CLIENT=${MTD_CLIENT:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_client}
MTD_KEYTOOL=${MTD_KEYTOOL:-$M2M_BUILD/daemon/m2mtokend/tests/mtd_keytool}
TLS_PEER=${TLS_PEER:-$M2M_BUILD/tls/tls_peer}
export M2MTOKEN_USER_PIN=1234

mtd_token()
{
	"$MTD_KEYTOOL" init "$1" || m2m_fail "cannot initialise token $1"
	printf '%s\n' "$M2MTOKEN_USER_PIN" >"$M2M_TMP/pin"
	chmod 600 "$M2M_TMP/pin"
}

mtd_conf()
{
	local file=$1 label=$2

	{
		printf '[daemon]\nsocket = %s\nidle_timeout = %s\n\n' \
		    "$M2M_TMP/mtd.sock" "${MTD_IDLE:-30}"
		printf '[token]\nmodule = %s\nconfig = %s\nlabel = %s\n' \
		    "$M2MTOKEN_MODULE" "$M2MTOKEN_CONF" "$label"
		printf 'pin_file = %s\n\n' "${MTD_PIN_FILE:-$M2M_TMP/pin}"
		cat
	} >"$file"
	# the daemon refuses configurations others may read
	chmod 600 "$file"
	chmod o= "$M2MTOKEN_CONF"
}

mtd_start()
{
	local i

	MTD_SOCK=$M2M_TMP/mtd.sock
	# a log per start: "ready" must be this start's
	MTD_STARTS=$((${MTD_STARTS:-0} + 1))
	MTD_LOG=$M2M_TMP/mtd.$MTD_STARTS.log
	"$M2MTOKEND" -c "$1" </dev/null >>"$MTD_LOG" 2>&1 &
	MTD_PID=$!
	m2m_defer m2m_stop "$MTD_PID"
	for ((i = 0; i < 100; i++)); do
		grep -q 'm2mtokend: ready' "$MTD_LOG" 2>/dev/null && return 0
		kill -0 "$MTD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$MTD_LOG" >&2
	m2m_fail "m2mtokend did not start"
}

# mtd_mef_daemon WHO SECTION: (re)start m2mtokend WHO on the token WHO
# ($M2M_TMP/WHO.conf, .sock, .log, .pid) as a client of the m2m-mef that
# mef_start started (PORT, CPORT if set, FQDN); SECTION is its [enrolee]
# or [target] text; the caller root may call every method on every key.
# Waits for "ready".
mtd_mef_daemon()
{
	local who=$1 i pidf=$M2M_TMP/$1.pid cport=

	[ ! -f "$pidf" ] || m2m_stop "$(cat "$pidf")"
	[ -z "${CPORT:-}" ] || cport="cert_port = $CPORT"
	cat >"$M2M_TMP/$who.conf" <<CONF
[daemon]
socket = $M2M_TMP/$who.sock
[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF
label = $who
pin_file = $M2M_TMP/pin
[mef]
host = 127.0.0.1
port = $PORT
$cport
fqdn = $FQDN
$2
[caller root]
uid = 0
methods = *
keys = *
CONF
	chmod 600 "$M2M_TMP/$who.conf"
	chmod o= "$M2MTOKEN_CONF"
	: >"$M2M_TMP/$who.log"
	"$M2MTOKEND" -c "$M2M_TMP/$who.conf" >"$M2M_TMP/$who.log" 2>&1 &
	echo $! >"$pidf"
	m2m_defer m2m_stop $!
	for ((i = 0; i < 100; i++)); do
		grep -q 'm2mtokend: ready' "$M2M_TMP/$who.log" && return 0
		sleep 0.1
	done
	cat "$M2M_TMP/$who.log"
	m2m_fail "$who daemon"
}

# mtd_nobody_setup: the CLI and its library copied where uid nobody can
# run them (the build tree may sit under a directory only root may enter)
mtd_nobody_setup()
{
	mkdir -p "$M2M_TMP/nobody"
	cp "$M2MTOKEN_CLI" "$M2M_TMP/nobody/m2mtoken"
	cp -L "$(dirname "$(readlink -f "$M2MTOKEN_CLI")")/../client/libm2mtoken-client.so.0" \
	    "$M2M_TMP/nobody/" 2>/dev/null ||
	    cp -L "$M2M_BUILD/daemon/client/libm2mtoken-client.so.0" \
	    "$M2M_TMP/nobody/"
	chmod 755 "$M2M_TMP" "$M2M_TMP/nobody"
}

# mtd_as_nobody SOCK ARGS...: the CLI as uid nobody on the socket SOCK
mtd_as_nobody()
{
	local sock=$1

	shift
	runuser -u nobody -- env LD_LIBRARY_PATH="$M2M_TMP/nobody" \
	    "$M2M_TMP/nobody/m2mtoken" -s "$sock" "$@"
}

# mtd_nobody_denied SOCK LOG LOGLINE ARGS...: the CLI as uid nobody must be
# refused (exit 4, io.m2mtoken.PermissionDenied) and the daemon's log LOG
# must hold "denied: uid <nobody> .* LOGLINE" (a grep pattern)
mtd_nobody_denied()
{
	local sock=$1 log=$2 line=$3 out rc

	shift 3
	set +e
	out=$(mtd_as_nobody "$sock" "$@" 2>&1)
	rc=$?
	set -e
	[ "$rc" = 4 ] || m2m_fail "nobody: $*: rc $rc: $out"
	m2m_expect_contains "$out" "io.m2mtoken.PermissionDenied"
	grep -q "denied: uid $(id -u nobody) .* $line" "$log" ||
	    { cat "$log" >&2; m2m_fail "no log line for the denied $*"; }
}

mtd_cli()
{
	"$M2MTOKEN_CLI" -s "$MTD_SOCK" "$@"
}

mtd_hmac()
{
	local key=$1 data=$2

	# shellcheck disable=SC2059
	printf "$(sed 's/../\\x&/g' <<<"$data")" |
	    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -r |
	    cut -d' ' -f1
}

mtd_hex()
{
	od -An -v -tx1 | tr -d ' \n'
}

mtd_json()
{
	python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"
}

# mtd_e2e_mic KPSAHEX DATA [SALTHEX]: the message MIC of the E2E set of
# Kpsa (SHA-256; no salt: 32 zero bytes), computed with openssl from the
# key derivation formulas.
mtd_e2e_mic()
{
	local kpsa=$1 data=$2 salt=${3:-$(printf '%064d' 0)} master t1 label

	master=$(mtd_hmac "$salt" "$kpsa")
	label=$(printf 'E2E Message Authentication Key\001' | mtd_hex)
	t1=$(mtd_hmac "$master" "$label")
	mtd_hmac "$t1" "$(printf '%s' "$data" | mtd_hex)"
}

# mtd_kpsa KEHEX TARGET: Kpsa from Ke, with openssl.
mtd_kpsa()
{
	mtd_hmac "$1" "$(printf '%s%s' 'oneM2M Enrolment Key to Provisioned Secure Connection Key derivation' "$2" | mtd_hex)"
}

# mtd_b64hex: base64 on stdin to hex.
mtd_b64hex()
{
	openssl base64 -d -A | mtd_hex
}

# mtd_finish: SIGTERM the daemon; it must exit 0 (under ASan: no leak)
# and remove its socket.
mtd_finish()
{
	local rc

	kill -TERM "$MTD_PID"
	set +e
	wait "$MTD_PID"
	rc=$?
	set -e
	[ "$rc" = 0 ] || { tail -30 "$MTD_LOG" >&2; m2m_fail "m2mtokend exited $rc"; }
	[ ! -e "$MTD_SOCK" ] || m2m_fail "m2mtokend left its socket"
	echo "ok: m2mtokend stopped cleanly on SIGTERM"
}
