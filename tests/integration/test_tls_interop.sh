#!/usr/bin/env bash
# m2m-label: tool tls
# TLS 1.2 / DTLS 1.2 PSK with the PSK in the token against unmodified
# OpenSSL peers holding the raw PSK: both ends' RFC 5705 exports
# ("EXPORTER-oneM2M-Bootstrap", 48 bytes) must be equal.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_tls_interop.sh hsm|tpm}"

PEER=${M2M_TLS_PEER:-}
for p in "$M2M_BUILD/tests/integration/tls_peer" "$M2M_BUILD/tls/tls_peer"; do
	[ -n "$PEER" ] || { [ -x "$p" ] && PEER=$p; }
done
[ -x "$PEER" ] || m2m_fail "tls_peer not built"

PSK=0123456789abcdef0123456789abcdef
KPMID=kpm-0001@mef.example.com
EXP="-keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48"

# Key material line of an s_server/s_client log, upper-case hex.
ossl_export()
{
	sed -n 's/^ *Keying material: *\([0-9A-Fa-f]*\).*/\1/p' "$1" |
	    tr a-f A-F | head -n 1
}

peer_export()
{
	sed -n 's/^exporter: *//p' "$1" | head -n 1
}

# wait_for FILE TEXT [PID]: until FILE contains TEXT (10 s)
wait_for()
{
	local i

	for ((i = 0; i < 100; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

import_done=0
# token client against openssl s_server; $1 tls|dtls, $2 cipher
client_vs_openssl()
{
	local mode=$1 cipher=$2 port out srv imp=() proto=-tls1_2 mp=--tls
	local spid

	[ "$mode" = dtls ] && { proto=-dtls1_2; mp=--dtls; }
	[ $import_done = 1 ] || imp=(--import-hex "$PSK" kpm)
	port=$(m2m_free_port_pair)
	srv=$M2M_TMP/s_server.$mode.$cipher.log
	# stdin held open so that s_server does not quit on EOF
	openssl s_server -accept "127.0.0.1:$port" $proto -nocert \
	    -psk "$PSK" -psk_identity "$KPMID" -cipher "$cipher" -naccept 1 \
	    $EXP < <(exec sleep 30 2>/dev/null) >"$srv" 2>&1 &
	spid=$!
	m2m_defer m2m_stop "$spid"
	wait_for "$srv" ACCEPT "$spid" || { cat "$srv" >&2;
	    m2m_fail "s_server did not start"; }
	out=$("$PEER" client --psk-id "$KPMID" $mp --port "$port" \
	    --sni mef.example.com --cipher "$cipher" "${imp[@]}" 2>&1) ||
	    { cat "$srv" >&2; m2m_fail "$mode $cipher client failed: $out"; }
	import_done=1
	wait_for "$srv" "Keying material" || { cat "$srv" >&2;
	    m2m_fail "s_server printed no export"; }
	m2m_expect_contains "$out" "exporter: $(ossl_export "$srv")"
	m2m_expect_contains "$out" "cipher: $cipher"
	m2m_stop "$spid"
	echo "ok: $M2M_BACKEND: token client vs s_server, $mode $cipher"
}

# openssl s_client against the token server
openssl_vs_server()
{
	local mode=$1 cipher=$2 port slog clog proto=-tls1_2 mp=--tls spid
	local out

	[ "$mode" = dtls ] && { proto=-dtls1_2; mp=--dtls; }
	port=$(m2m_free_port_pair)
	slog=$M2M_TMP/peer.$mode.$cipher.log
	clog=$M2M_TMP/s_client.$mode.$cipher.log
	"$PEER" server --psk-id "$KPMID" $mp --port "$port" \
	    --sni mef.example.com --cipher "$cipher" >"$slog" 2>&1 &
	spid=$!
	m2m_defer m2m_stop "$spid"
	wait_for "$slog" listening "$spid" || { cat "$slog" >&2;
	    m2m_fail "tls_peer server did not start"; }
	openssl s_client -connect "127.0.0.1:$port" $proto \
	    -psk "$PSK" -psk_identity "$KPMID" -cipher "$cipher" \
	    -servername mef.example.com $EXP </dev/null >"$clog" 2>&1 ||
	    { cat "$clog" "$slog" >&2; m2m_fail "s_client failed"; }
	wait "$spid" || { cat "$slog" >&2; m2m_fail "server failed"; }
	out=$(cat "$slog")
	m2m_expect_contains "$out" "exporter: $(ossl_export "$clog")"
	echo "ok: $M2M_BACKEND: s_client vs token server, $mode $cipher"
}

client_vs_openssl tls PSK-AES128-CBC-SHA256
client_vs_openssl tls PSK-AES128-GCM-SHA256
openssl_vs_server tls PSK-AES128-CBC-SHA256
openssl_vs_server tls PSK-AES128-GCM-SHA256
client_vs_openssl dtls PSK-AES128-CCM8
openssl_vs_server dtls PSK-AES128-CCM8
