#!/usr/bin/env bash
# m2m-label: tls
# Token against token: a TLS 1.2 and a DTLS 1.2 PSK handshake where both the
# client and the server keep the PSK in the token; equal RFC 5705 exports.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_tls_token.sh hsm|tpm}"

PEER=${M2M_TLS_PEER:-}
for p in "$M2M_BUILD/tests/integration/tls_peer" "$M2M_BUILD/tls/tls_peer"; do
	[ -n "$PEER" ] || { [ -x "$p" ] && PEER=$p; }
done
[ -x "$PEER" ] || m2m_fail "tls_peer not built"

PSK=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
ID=C0123-kpsa@gw.example.com

wait_for()
{
	local i

	for ((i = 0; i < 100; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

imp=(--import-hex "$PSK" kpsa)
for mode in tls dtls; do
	port=$(m2m_free_port_pair)
	slog=$M2M_TMP/server.$mode.log
	"$PEER" server --psk-id "$ID" --$mode --port "$port" \
	    --sni gw.example.com "${imp[@]}" >"$slog" 2>&1 &
	spid=$!
	m2m_defer m2m_stop "$spid"
	imp=()
	wait_for "$slog" listening "$spid" || { cat "$slog" >&2;
	    m2m_fail "$mode server did not start"; }
	out=$("$PEER" client --psk-id "$ID" --$mode --port "$port" \
	    --sni gw.example.com 2>&1) || { cat "$slog" >&2;
	    m2m_fail "$mode client failed: $out"; }
	wait "$spid" || { cat "$slog" >&2; m2m_fail "$mode server failed"; }
	cexp=$(sed -n 's/^exporter: *//p' <<<"$out")
	sexp=$(sed -n 's/^exporter: *//p' "$slog")
	[ -n "$cexp" ] && [ ${#cexp} -eq 96 ] ||
	    m2m_fail "$mode: no 48-byte export: $out"
	[ "$cexp" = "$sexp" ] ||
	    m2m_fail "$mode: exports differ: client $cexp server $sexp"
	echo "ok: $M2M_BACKEND: token client vs token server, $mode"
done
