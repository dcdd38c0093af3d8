#!/usr/bin/env bash
# m2m-label: daemon
# m2mtokend's MEF client against a raw-key peer nobody here wrote:
# `openssl s_server -psk HEX` stands in for the MEF.  Bootstrap: the test
# reads the keying material s_server exports, answers the daemon's POST
# /bootstrap with that KeId, and checks that the Ke the daemon stored is
# the export (a Kpsa derived in the token and one derived by openssl give
# the same E2E MIC), and that a Status is served while it waits for the
# MEF.  Then each failure with its exit code and nothing stored: the daemon
# killed (-9) while the MEF holds its request (then restarted; also during
# a fetch), KeId mismatch, MEF refusal, malformed HTTP, wrong Kpm, MEF
# unreachable; and
# FetchCredentials: request line, X-M2M-Origin, the credential imported
# (checked the same way), a second fetch served from the token, a 404.
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/integration/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mtd_lib.sh"

m2m_setup "${1:?usage: test_m2mtokend_bootstrap.sh hsm|tpm}"

KPM=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
KPMID=kpm-device-1@mef.example.com
TPSK=ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100
TGTID=/in-cse.example.com/CGW01
TARGET=/in-cse.example.com/CAE01
FQDN=mef.example.com

mtd_token mtd
"$MTD_KEYTOOL" import mtd kpm "$KPMID" "$KPM" || m2m_fail "import of Kpm"
"$MTD_KEYTOOL" import mtd kpm "$TGTID" "$TPSK" || m2m_fail "import of the target PSK"

PORT=$(m2m_free_port_pair)
mtd_conf "$M2M_TMP/mtd.conf" mtd <<CONF
[mef]
host = 127.0.0.1
port = $PORT
fqdn = $FQDN
timeout = 10

[enrolee]
kpm_id = $KPMID

[target]
id = $TGTID

[caller root]
uid = 0
methods = *
keys = *
CONF
mtd_start "$M2M_TMP/mtd.conf"

SS_PID=
# ss_start PSK IDENTITY: a one-connection raw-key s_server on PORT
ss_start()
{
	local i

	SS_OUT=$M2M_TMP/s_server.$RANDOM.out
	rm -f "$M2M_TMP/ss.fifo"
	mkfifo "$M2M_TMP/ss.fifo"
	openssl s_server -tls1_2 -nocert -psk "$1" -psk_identity "$2" \
	    -cipher PSK-AES128-CBC-SHA256 -accept "127.0.0.1:$PORT" \
	    -naccept 1 -keymatexport EXPORTER-oneM2M-Bootstrap \
	    -keymatexportlen 48 <"$M2M_TMP/ss.fifo" >"$SS_OUT" 2>&1 &
	SS_PID=$!
	m2m_defer m2m_stop "$SS_PID"
	exec 7>"$M2M_TMP/ss.fifo"
	for ((i = 0; i < 100; i++)); do
		grep -q ACCEPT "$SS_OUT" && return 0
		sleep 0.1
	done
	m2m_fail "s_server did not start: $(cat "$SS_OUT")"
}

ss_stop()
{
	exec 7>&-
	m2m_stop "$SS_PID"
}

# ss_wait TEXT: until s_server's output holds TEXT
ss_wait()
{
	local i

	for ((i = 0; i < 150; i++)); do
		grep -q -- "$1" "$SS_OUT" && return 0
		sleep 0.1
	done
	cat "$SS_OUT" >&2
	tail -20 "$MTD_LOG" >&2
	m2m_fail "s_server never saw: $1"
}

# ss_send TEXT: TEXT to s_server's stdin, which it sends to the daemon, in
# one write (cat of a file): bash's printf wrote a line at a time, and the
# daemon, rightly closing at a malformed header line, made s_server exit
# before the next line (CI: SIGPIPE killed this script).  A write to an
# s_server that has gone fails with what both of them said, not with a
# SIGPIPE (the subshell ignores it).
ss_send()
{
	printf '%s' "$1" >"$M2M_TMP/ss.reply"
	(trap '' PIPE; cat "$M2M_TMP/ss.reply" >&7) 2>/dev/null && return 0
	cat "$SS_OUT" >&2
	tail -20 "$MTD_LOG" >&2
	m2m_fail "s_server had gone before the MEF's reply could be sent"
}

# ss_reply STATUS RSC BODY
ss_reply()
{
	ss_send "$(printf 'HTTP/1.1 %s\r\nX-M2M-RSC: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	    "$1" "$2" "${#3}" "$3")"
}

# cli_bg ARGS...: the CLI in the background, output in CLI_OUT
cli_bg()
{
	CLI_OUT=$M2M_TMP/cli.$RANDOM.out
	mtd_cli "$@" >"$CLI_OUT" 2>&1 &
	CLI_PID=$!
}

cli_wait()
{
	set +e
	wait "$CLI_PID"
	CLI_RC=$?
	set -e
}

ekm_of()
{
	sed -n 's/^ *Keying material: *//p' "$SS_OUT" | tr 'A-F' 'a-f'
}

nothing_stored()
{
	local keid=${1:0:32}@$FQDN n

	n=$("$MTD_KEYTOOL" count mtd "$keid") || m2m_fail "count"
	[ "$n" = 0 ] || m2m_fail "$n keys stored for $keid after a failure"
}

# --- kill -9 of the daemon while the MEF has its request, then restart -------
ss_start "$KPM" "$KPMID"
cli_bg bootstrap --target "$TARGET"
ss_wait '"Targets"'
EKM=$(ekm_of)
kill -KILL "$MTD_PID"
wait "$MTD_PID" 2>/dev/null || true
cli_wait
ss_stop
[ "$CLI_RC" = 3 ] || m2m_fail "client of a killed daemon: rc $CLI_RC: $(cat "$CLI_OUT")"
nothing_stored "$EKM"
mtd_start "$M2M_TMP/mtd.conf"
echo "ok: kill -9 during a bootstrap: the client exits 3, nothing stored, the daemon restarts on its stale socket"

# --- a bootstrap that succeeds (after the restart) ----------------------------
SALT=a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5
SALT64=$(printf "$(sed 's/../\\x&/g' <<<"$SALT")" | openssl base64 -A)
ss_start "$KPM" "$KPMID"
cli_bg --json bootstrap --target "$TARGET" --target /other/target
ss_wait "Keying material:"
ss_wait '"Targets"'
# the MEF has not answered yet: the daemon serves other callers meanwhile
t0=$(date +%s%N)
out=$(timeout 5 "$M2MTOKEN_CLI" -s "$MTD_SOCK" --timeout 3 status) ||
    m2m_fail "status while a bootstrap waits for the MEF: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -0 "$CLI_PID" || m2m_fail "the bootstrap call ended before the MEF answered"
echo "ok: Status served in $ms ms while a Bootstrap waits for the MEF"
EKM=$(ekm_of)
[ ${#EKM} = 96 ] || m2m_fail "no export from s_server: $EKM"
KEID=${EKM:0:32}@$FQDN
KE=${EKM:32:64}
grep -q "^POST /bootstrap HTTP/1.1" "$SS_OUT" || m2m_fail "request line"
grep -q "^X-M2M-Origin: $KPMID" "$SS_OUT" || m2m_fail "X-M2M-Origin"
grep -q "^Host: $FQDN" "$SS_OUT" || m2m_fail "Host"
grep -q '{"Targets":\["/in-cse.example.com/CAE01","/other/target"\]}' "$SS_OUT" ||
    m2m_fail "body: $(cat "$SS_OUT")"
ss_reply "200 OK" 2001 "{\"Status\": true, \"EnroleeID\": \"C-enrolee-1\", \"KeId\": \"${EKM:0:32}@$FQDN\", \"Lifetime\": \"20991231T000000\", \"Targets\": [\"$TARGET\"], \"E2E\": {\"Hash\": \"SHA-256\", \"Salt\": \"$SALT64\"}}"
cli_wait
ss_stop
[ "$CLI_RC" = 0 ] || m2m_fail "bootstrap: rc $CLI_RC: $(cat "$CLI_OUT")"
[ "$(mtd_json keId <"$CLI_OUT")" = "$KEID" ] || m2m_fail "KeId: $(cat "$CLI_OUT")"
[ "$(mtd_json enroleeId <"$CLI_OUT")" = C-enrolee-1 ] || m2m_fail "EnroleeID"
[ "$(mtd_json e2e.hash <"$CLI_OUT")" = sha256 ] || m2m_fail "E2E hash"
! grep -qi "$KE" "$CLI_OUT" "$MTD_LOG" || m2m_fail "Ke in a reply or the log"
echo "ok: bootstrap against openssl s_server: KeId $KEID"

# the stored Ke is the export: the token's Kpsa -> E2E MIC equals openssl's
out=$(mtd_cli --json list-keys --role ke)
m2m_expect_contains "$out" "\"expires\":\"20991231T000000\""
m2m_expect_contains "$out" "\"enroleeId\":\"C-enrolee-1\""
mtd_cli derive-kpsa --key "$KEID" --target "$TARGET" >/dev/null || m2m_fail "derive-kpsa"
E2E=$(mtd_cli --json provision-e2e --key "$KEID" --role kpsa | mtd_json e2eKeyId)
mic=$(mtd_cli mic --key "$E2E" --data "bootstrapped") || m2m_fail "mic"
want=$(mtd_e2e_mic "$(mtd_kpsa "$KE" "$TARGET")" "bootstrapped")
[ "$mic" = "$want" ] || m2m_fail "MIC from the stored Ke $mic, openssl $want"
echo "ok: the stored Ke equals s_server's export (E2E MIC $mic)"
# the E2E parameters of the MEF's answer, as the CLI takes them
[ "$(mtd_json e2e.salt <"$CLI_OUT")" = "$SALT64" ] || m2m_fail "E2E salt"
E2ES=$(mtd_cli --json provision-e2e --key "$KEID" --role kpsa --salt "$SALT64" |
    mtd_json e2eKeyId)
[ "$E2ES" != "$E2E" ] || m2m_fail "a salted set with the unsalted set's id"
mic=$(mtd_cli mic --key "$E2ES" --data "bootstrapped") || m2m_fail "mic"
want=$(mtd_e2e_mic "$(mtd_kpsa "$KE" "$TARGET")" "bootstrapped" "$SALT")
[ "$mic" = "$want" ] || m2m_fail "salted E2E MIC $mic, openssl $want"
echo "ok: provision-e2e with the MEF's salt: MIC equals openssl's"

# --- failures: exit 7, nothing stored ----------------------------------------

ss_start "$KPM" "$KPMID"
cli_bg bootstrap --target "$TARGET"
ss_wait '"Targets"'
EKM=$(ekm_of)
ss_reply "200 OK" 2001 "{\"Status\": true, \"EnroleeID\": \"C-enrolee-1\", \"KeId\": \"00000000000000000000000000000000@$FQDN\", \"Lifetime\": \"20991231T000000\"}"
cli_wait
ss_stop
[ "$CLI_RC" = 7 ] || m2m_fail "KeId mismatch: rc $CLI_RC: $(cat "$CLI_OUT")"
m2m_expect_contains "$(cat "$CLI_OUT")" "io.m2mtoken.MefProtocolError"
m2m_expect_contains "$(cat "$CLI_OUT")" "not the one this session exported"
nothing_stored "$EKM"
echo "ok: KeId mismatch: MefProtocolError, nothing stored"

ss_start "$KPM" "$KPMID"
cli_bg bootstrap --target /not/allowed
ss_wait '"Targets"'
EKM=$(ekm_of)
ss_reply "403 Forbidden" 4103 '{"Status": false, "ErrorString": "target not allowed"}'
cli_wait
ss_stop
[ "$CLI_RC" = 7 ] || m2m_fail "refusal: rc $CLI_RC: $(cat "$CLI_OUT")"
m2m_expect_contains "$(cat "$CLI_OUT")" "io.m2mtoken.MefRefused"
m2m_expect_contains "$(cat "$CLI_OUT")" "HTTP 403, X-M2M-RSC 4103: target not allowed"
nothing_stored "$EKM"
echo "ok: MEF refusal: MefRefused with its RSC and ErrorString, nothing stored"

ss_start "$KPM" "$KPMID"
cli_bg bootstrap --target "$TARGET"
ss_wait '"Targets"'
EKM=$(ekm_of)
ss_send "$(printf 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n{}{}{')"
cli_wait
ss_stop
[ "$CLI_RC" = 7 ] || m2m_fail "malformed HTTP: rc $CLI_RC: $(cat "$CLI_OUT")"
m2m_expect_contains "$(cat "$CLI_OUT")" "io.m2mtoken.MefProtocolError"
nothing_stored "$EKM"
echo "ok: malformed HTTP response: MefProtocolError, nothing stored"

ss_start "$TPSK" "$KPMID"
set +e
out=$(mtd_cli bootstrap --target "$TARGET" 2>&1); rc=$?
set -e
ss_stop
[ "$rc" = 7 ] || m2m_fail "wrong Kpm: rc $rc: $out"
m2m_expect_contains "$out" "io.m2mtoken.MefUnreachable"
m2m_expect_contains "$out" "TLS handshake with the MEF failed"
echo "ok: wrong Kpm: MefUnreachable (handshake failed)"

set +e
out=$(mtd_cli bootstrap --target "$TARGET" 2>&1); rc=$?
set -e
[ "$rc" = 7 ] || m2m_fail "MEF down: rc $rc: $out"
m2m_expect_contains "$out" "io.m2mtoken.MefUnreachable"
m2m_expect_contains "$out" "cannot connect to the MEF (127.0.0.1:$PORT)"
echo "ok: MEF unreachable: $(head -1 <<<"$out")"

# --- FetchCredentials (the gateway role) -------------------------------------
KEID2=0f0e0d0c0b0a09080706050403020100@$FQDN
CRED=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0123456789abcdef0123456789abcdef
CRED64=$(printf "$(sed 's/../\\x&/g' <<<"$CRED")" | openssl base64 -A)
# kill -9 while the MEF holds the request: nothing stored, then it runs again
ss_start "$TPSK" "$TGTID"
cli_bg fetch-credentials --key "$KEID2"
ss_wait "Connection: close"
kill -KILL "$MTD_PID"
wait "$MTD_PID" 2>/dev/null || true
cli_wait
ss_stop
[ "$CLI_RC" = 3 ] || m2m_fail "fetch, daemon killed: rc $CLI_RC: $(cat "$CLI_OUT")"
[ "$("$MTD_KEYTOOL" count mtd "$KEID2")" = 0 ] || m2m_fail "a Kpsa stored by a killed fetch"
mtd_start "$M2M_TMP/mtd.conf"
echo "ok: kill -9 during a fetch: nothing stored, restarted"

ss_start "$TPSK" "$TGTID"
cli_bg --json fetch-credentials --key "$KEID2"
ss_wait "Connection: close"
grep -q "^GET /fetchCredentials/$KEID2 HTTP/1.1" "$SS_OUT" || m2m_fail "fetch request line: $(cat "$SS_OUT")"
grep -q "^X-M2M-Origin: $TGTID" "$SS_OUT" || m2m_fail "fetch X-M2M-Origin"
ss_reply "200 OK" 2000 "{\"Status\": true, \"Credential\": \"$CRED64\", \"EnroleeID\": \"C-enrolee-1\", \"Lifetime\": \"20991231T000000\"}"
cli_wait
ss_stop
[ "$CLI_RC" = 0 ] || m2m_fail "fetch: rc $CLI_RC: $(cat "$CLI_OUT")"
[ "$(mtd_json role <"$CLI_OUT")" = kpsa ] && [ "$(mtd_json source <"$CLI_OUT")" = mef ] ||
    m2m_fail "fetch: $(cat "$CLI_OUT")"
! grep -q "$CRED64" "$CLI_OUT" "$MTD_LOG" || m2m_fail "the credential in a reply or the log"
E2E2=$(mtd_cli --json provision-e2e --key "$KEID2" --role kpsa | mtd_json e2eKeyId)
mic=$(mtd_cli mic --key "$E2E2" --data "fetched") || m2m_fail "mic"
[ "$mic" = "$(mtd_e2e_mic "$CRED" fetched)" ] || m2m_fail "fetched Kpsa: MIC $mic"
out=$(mtd_cli --json fetch-credentials --key "$KEID2") || m2m_fail "second fetch: $out"
[ "$(mtd_json source <<<"$out")" = token ] || m2m_fail "second fetch went to the MEF"
echo "ok: fetch-credentials: GET and X-M2M-Origin as docs/mef-http.md, Kpsa imported (MIC $mic), second fetch from the token"
# the same KeId in upper case is the same credential: from the token, no
# second object (no s_server runs: a request to the MEF would fail)
out=$(mtd_cli --json fetch-credentials --key "${KEID2^^}") ||
    m2m_fail "upper-case KeId: $out"
[ "$(mtd_json source <<<"$out")" = token ] && [ "$(mtd_json key <<<"$out")" = "$KEID2" ] ||
    m2m_fail "upper-case KeId not the stored one: $out"
[ "$("$MTD_KEYTOOL" count mtd "${KEID2^^}")" = 0 ] || m2m_fail "an upper-case label stored"
echo "ok: fetch-credentials with the KeId in upper case: the stored Kpsa, no second fetch"

# a reply whose Status is not the boolean true, or with a Credential twice:
# MefProtocolError, nothing stored
KEID3=0f0e0d0c0b0a09080706050403020199@$FQDN
for body in "{\"Status\": \"true\", \"Credential\": \"$CRED64\", \"EnroleeID\": \"C-enrolee-1\", \"Lifetime\": \"20991231T000000\"}" \
    "{\"Status\": 1, \"Credential\": \"$CRED64\", \"EnroleeID\": \"C-enrolee-1\", \"Lifetime\": \"20991231T000000\"}" \
    "{\"Status\": true, \"Credential\": \"$CRED64\", \"Credential\": \"$CRED64\", \"EnroleeID\": \"C-enrolee-1\", \"Lifetime\": \"20991231T000000\"}"; do
	ss_start "$TPSK" "$TGTID"
	cli_bg fetch-credentials --key "$KEID3"
	ss_wait "Connection: close"
	ss_reply "200 OK" 2000 "$body"
	cli_wait
	ss_stop
	[ "$CLI_RC" = 7 ] || m2m_fail "malformed fetch reply: rc $CLI_RC: $(cat "$CLI_OUT")"
	m2m_expect_contains "$(cat "$CLI_OUT")" "io.m2mtoken.MefProtocolError"
	[ "$("$MTD_KEYTOOL" count mtd "$KEID3")" = 0 ] || m2m_fail "stored after: $body"
done
echo "ok: fetch replies with Status \"true\" or 1, or a Credential twice: MefProtocolError, nothing stored"

ss_start "$TPSK" "$TGTID"
cli_bg fetch-credentials --key "$KEID2" --suid 22
ss_wait "Connection: close"
grep -q "^GET /fetchCredentials/$KEID2/22 HTTP/1.1" "$SS_OUT" || m2m_fail "Kuc request line"
ss_reply "404 Not Found" 4004 '{"Status": false, "ErrorString": "unknown KeId"}'
cli_wait
ss_stop
[ "$CLI_RC" = 7 ] || m2m_fail "fetch 404: rc $CLI_RC: $(cat "$CLI_OUT")"
m2m_expect_contains "$(cat "$CLI_OUT")" "X-M2M-RSC 4004: unknown KeId"
[ "$("$MTD_KEYTOOL" count mtd "$KEID2/22")" = 0 ] || m2m_fail "a Kuc stored after a 404"
echo "ok: fetch-credentials refused: MefRefused, nothing stored"
kill -0 "$MTD_PID" || m2m_fail "the daemon died"
mtd_finish
echo "ok: $M2M_BACKEND: m2mtokend against openssl s_server"
