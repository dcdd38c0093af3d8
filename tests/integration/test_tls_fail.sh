#!/usr/bin/env bash
# m2m-label: tool tls
# TLS-PSK handshakes with the PSK in the token that must fail: wrong PSK on
# the other side, unknown identity (both directions), expired key, wrong
# SNI.  Our side exits 1 (no crash) and says why in one clear line.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_tls_fail.sh hsm|tpm}"

PEER=${M2M_TLS_PEER:-}
for p in "$M2M_BUILD/tests/integration/tls_peer" "$M2M_BUILD/tls/tls_peer"; do
	[ -n "$PEER" ] || { [ -x "$p" ] && PEER=$p; }
done
[ -x "$PEER" ] || m2m_fail "tls_peer not built"

PSK=0123456789abcdef0123456789abcdef
OTHER=fedcba9876543210fedcba9876543210
ID=kpm-0002@mef.example.com
OLD=kpm-old@mef.example.com

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

# expect_fail RC: a clean failure exit (1), not a crash
expect_fail()
{
	[ "$1" -eq 1 ] || m2m_fail "$2: exit status $1, expected 1"
}

# start_s_server PSK IDENTITY: sets spid, port
start_s_server()
{
	local log=$M2M_TMP/s_server.$RANDOM.log

	port=$(m2m_free_port_pair)
	openssl s_server -accept "127.0.0.1:$port" -tls1_2 -nocert \
	    -psk "$1" -psk_identity "$2" -cipher PSK-AES128-CBC-SHA256 \
	    -naccept 1 < <(exec sleep 30 2>/dev/null) >"$log" 2>&1 &
	spid=$!
	m2m_defer m2m_stop "$spid"
	wait_for "$log" ACCEPT "$spid" || m2m_fail "s_server did not start"
}

# start_peer_server SNI: our server; sets spid, port, log
start_peer_server()
{
	log=$M2M_TMP/peer.$RANDOM.log
	port=$(m2m_free_port_pair)
	"$PEER" server --psk-id "$ID" --port "$port" --sni "$1" \
	    >"$log" 2>&1 &
	spid=$!
	m2m_defer m2m_stop "$spid"
	wait_for "$log" listening "$spid" ||
	    m2m_fail "tls_peer server did not start"
}

# Provision both keys once: a good one and an expired one.
start_s_server "$PSK" "$ID"
"$PEER" client --psk-id "$ID" --port "$port" --import-hex "$PSK" kpm \
    >/dev/null 2>&1 || m2m_fail "baseline handshake failed"
m2m_stop "$spid"

# 1. the other side holds a different PSK
start_s_server "$OTHER" "$ID"
rc=0
out=$("$PEER" client --psk-id "$ID" --port "$port" 2>&1) || rc=$?
expect_fail "$rc" "wrong PSK"
m2m_expect_contains "$out" "TLS handshake failed"
m2m_stop "$spid"
echo "ok: $M2M_BACKEND: wrong PSK on the server side fails"

# 2a. our client: identity unknown to the token
start_s_server "$PSK" nobody
rc=0
out=$("$PEER" client --psk-id nobody@example.com --port "$port" 2>&1) ||
    rc=$?
expect_fail "$rc" "unknown identity (client)"
m2m_expect_contains "$out" "unknown PSK identity 'nobody@example.com'"
m2m_stop "$spid"
echo "ok: $M2M_BACKEND: client with an unknown identity fails"

# 2b. our server: s_client sends an identity the token does not know
start_peer_server mef.example.com
out=$(openssl s_client -connect "127.0.0.1:$port" -tls1_2 -psk "$PSK" \
    -psk_identity stranger -cipher PSK-AES128-CBC-SHA256 \
    -servername mef.example.com </dev/null 2>&1) &&
    m2m_fail "s_client with an unknown identity succeeded"
# the same alert as a wrong key: which identities exist is not told
m2m_expect_contains "$out" "alert bad record mac"
rc=0
wait "$spid" || rc=$?
expect_fail "$rc" "unknown identity (server)"
m2m_expect_contains "$(cat "$log")" "unknown PSK identity 'stranger'"
echo "ok: $M2M_BACKEND: server rejects an unknown identity"

# 3. an expired key: refused by the module at derive time
start_s_server "$PSK" "$OLD"
rc=0
out=$("$PEER" client --psk-id "$OLD" --port "$port" --import-hex "$PSK" kpm \
    --expires 20200101T000000 2>&1) || rc=$?
expect_fail "$rc" "expired key"
m2m_expect_contains "$out" "CKR_KEY_FUNCTION_NOT_PERMITTED"
m2m_expect_contains "$out" "key '$OLD' may not be used"
m2m_stop "$spid"
echo "ok: $M2M_BACKEND: expired key refused"

# 4a. wrong SNI from s_client
start_peer_server mef.example.com
openssl s_client -connect "127.0.0.1:$port" -tls1_2 -psk "$PSK" \
    -psk_identity "$ID" -cipher PSK-AES128-CBC-SHA256 \
    -servername evil.example.com </dev/null >/dev/null 2>&1 &&
    m2m_fail "s_client with a wrong SNI succeeded"
rc=0
wait "$spid" || rc=$?
expect_fail "$rc" "wrong SNI (server)"
m2m_expect_contains "$(cat "$log")" \
    "client asked for server name 'evil.example.com', this server is 'mef.example.com'"
echo "ok: $M2M_BACKEND: server rejects a wrong SNI"

# 4b. token client with a wrong SNI against the token server
start_peer_server mef.example.com
rc=0
out=$("$PEER" client --psk-id "$ID" --port "$port" --sni other.example.com \
    2>&1) || rc=$?
expect_fail "$rc" "wrong SNI (client)"
m2m_expect_contains "$out" "unrecognized name"
rc=0
wait "$spid" || rc=$?
expect_fail "$rc" "wrong SNI (token server)"
echo "ok: $M2M_BACKEND: token client with a wrong SNI fails"
