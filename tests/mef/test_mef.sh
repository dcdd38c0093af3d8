#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef on SoftHSM2 against peers that hold raw keys (openssl s_client):
# bootstrap and fetchCredentials as in docs/mef-http.md, the Ke the client
# exports equal to the MEF's (shown through the Kpsa / Kuc the MEF
# delivers against HMAC-SHA-256 computed here from the exported Ke), every
# refusal with its exact status, X-M2M-RSC and ErrorString and nothing
# stored, and kill -9 of the MEF during bootstraps, then a restart.
#   bash test_mef.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef.sh hsm}"

T=$M2M_TMP
PSK_GW2=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf
GW2=gw2.example.com
KPSA_LABEL="oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
KUC_LABEL="oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"

# The MEF's token: its own label on the module, deliver_derived on.
mef_token
mef_conf 2
# every KeId kept: the kill -9 rounds below find each answered one (the
# default, 2 per enrolee, is test_mef_kes.sh's)
printf '[bootstrap]\nkes_per_enrolee = 1000\n' >>"$T/mef.conf"

# --- administration -------------------------------------------------------
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
mef enrolee add --kpm-id kpm-dev1 --enrolee-id /in-cse.example.com/CAE01 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add (file, hex) failed"
# the Kpm on stdin, raw bytes; SHA-512 and a salt
printf '%s' "$KPM2" | xxd -r -p | mef enrolee add --kpm-id kpm-dev2 \
    --enrolee-id /in-cse.example.com/CAE02 --target "$GW1" --lifetime 2 \
    --e2e-hash sha512 --e2e-salt-hex 0102030405060708 --kpm-file - \
    >/dev/null || m2m_fail "enrolee add (stdin, raw) failed"
mef_target "$GW1" "$PSK_GW1"
mef_target "$GW2" "$PSK_GW2"
out=$(mef enrolee list)
m2m_expect_contains "$out" "kpm-dev1	EnroleeID=/in-cse.example.com/CAE01	lifetime=3600	hash=sha256	salt=-	targets=$GW1"
m2m_expect_contains "$out" "kpm-dev2	EnroleeID=/in-cse.example.com/CAE02	lifetime=2	hash=sha512	salt=0102030405060708"
out=$(mef target list)
[ "$out" = "$GW1"$'\n'"$GW2" ] || m2m_fail "target list: $out"
out=$("$MEF" enrolee --help) || m2m_fail "enrolee --help failed"
m2m_expect_contains "$out" "--kpm-file PATH|-"
out=$("$MEF" target add --help) || m2m_fail "target --help failed"
m2m_expect_contains "$out" "target add --id TARGET --psk-file PATH|-"
# refusals of the administration, nothing written
out=$(printf '%s' "$KPM1" | mef enrolee add --kpm-id kpm-dev1 --enrolee-id x \
    --target "$GW1" --lifetime 5 --kpm-file - 2>&1) && m2m_fail "duplicate add"
m2m_expect_contains "$out" "kpm-dev1 is already an enrolee or a target"
out=$(printf 'short' | mef enrolee add --kpm-id kpm-x --enrolee-id x \
    --target "$GW1" --lifetime 5 --kpm-file - 2>&1) && m2m_fail "short key"
m2m_expect_contains "$out" "a key is 16 to 62 bytes"
out=$(mef enrolee add --kpm-id kpm-x --enrolee-id x --target "$GW1" \
    --lifetime 0 --kpm-file - </dev/null 2>&1) && m2m_fail "lifetime 0"
m2m_expect_contains "$out" "--lifetime is a number of seconds"
[ "$(mef enrolee list | wc -l)" -eq 2 ] || m2m_fail "a refused add wrote"
chmod 640 "$T/mef.pin"
out=$(printf '%s' "$KPM1" | mef enrolee add --kpm-id kpm-y --enrolee-id y \
    --target "$GW1" --lifetime 5 --kpm-file - 2>&1) && m2m_fail "pin mode"
m2m_expect_contains "$out" "gives group or others access"
chmod 600 "$T/mef.pin"
ok "administration: enrolees and targets added, listed, refusals"

# --- the server -----------------------------------------------------------
mef_start

# req ID PSK FILE: send FILE over TLS-PSK; the whole s_client output.
req()
{
	timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "${SNI:-$FQDN}" -psk_identity "$1" -psk "$2" \
	    -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 \
	    -ign_eof -nocommands <"$3" 2>&1 || true
}

# get_file FILE PATH ORIGIN [EXTRA]: a fetchCredentials request.
get_file()
{
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\n%s%sConnection: close\r\n\r\n' \
	    "$2" "$FQDN" "${3:+X-M2M-Origin: $3$'\r\n'}" "${4:-}" >"$1"
}

# --- bootstrap, raw-key enrolee ---------------------------------------------
post_file "$T/boot1" "{\"Targets\": [\"$GW1\"]}" "X-M2M-RI: ri-001"$'\r\n'
out=$(req kpm-dev1 "$KPM1" "$T/boot1")
[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2001 ] || {
	cat "$T/mef.log" >&2; printf '%s\n' "$out" >&2
	m2m_fail "bootstrap failed"; }
m2m_expect_contains "$out" "X-M2M-RI: ri-001"
! grep -q "unexpected eof" <<<"$out" ||
    m2m_fail "the MEF closed without close_notify: $out"
ekm=$(ekm_of "$out")
[ ${#ekm} -eq 96 ] || m2m_fail "no 48-byte export from s_client: $out"
body=$(body_of "$out")
keid=$(jq -r .KeId <<<"$body")
[ "$keid" = "${ekm:0:32}@$FQDN" ] ||
    m2m_fail "KeId $keid is not hex(EKM[0..15])@$FQDN (EKM $ekm)"
[ "$(jq -r .EnroleeID <<<"$body")" = /in-cse.example.com/CAE01 ] ||
    m2m_fail "EnroleeID: $body"
[ "$(jq -c .Targets <<<"$body")" = "[\"$GW1\"]" ] || m2m_fail "Targets: $body"
[ "$(jq -c .E2E <<<"$body")" = '{"Hash":"SHA-256"}' ] || m2m_fail "E2E: $body"
[[ $(jq -r .Lifetime <<<"$body") =~ ^[0-9]{8}T[0-9]{6}$ ]] ||
    m2m_fail "Lifetime: $body"
[ "$(jq -r .Status <<<"$body")" = true ] || m2m_fail "Status: $body"
KE1=${ekm:32:64}
KEID1=$keid
[ "$(kes)" -eq 1 ] || m2m_fail "registry: $(kes) KeIds after one bootstrap"
ok "bootstrap of a raw-key enrolee: KeId = hex(EKM[0..15])@FQDN"

# --- fetchCredentials: Kpsa and Kuc equal to those of the exported Ke -------
get_file "$T/f1" "/fetchCredentials/$KEID1" "$GW1" "X-M2M-RI: ri-002"$'\r\n'
out=$(req "$GW1" "$PSK_GW1" "$T/f1")
[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2000 ] || {
	printf '%s\n' "$out" >&2; tail -n 20 "$T/mef.log" >&2
	m2m_fail "fetchCredentials failed"; }
body=$(body_of "$out")
cred=$(b64hex "$(jq -r .Credential <<<"$body")")
want=$(hmac "$KE1" "$KPSA_LABEL$GW1")
[ "$cred" = "$want" ] ||
    m2m_fail "Kpsa from the MEF $cred != HMAC(exported Ke) $want"
[ "$(jq -r .EnroleeID <<<"$body")" = /in-cse.example.com/CAE01 ] ||
    m2m_fail "fetch EnroleeID: $body"
m2m_expect_contains "$out" "X-M2M-RI: ri-002"
ok "fetchCredentials: Kpsa = HMAC-SHA-256(Ke exported by s_client, label||target)"
get_file "$T/f2" "/fetchCredentials/${KEID1^^}/12" "$GW1"
out=$(req "$GW1" "$PSK_GW1" "$T/f2")
[ "$(status_of "$out")" = 200 ] || { printf '%s\n' "$out" >&2;
	m2m_fail "fetchCredentials with SUID failed"; }
cred=$(b64hex "$(jq -r .Credential <<<"$(body_of "$out")")")
want=$(hmac "$KE1" "${KUC_LABEL}12$GW1")
[ "$cred" = "$want" ] ||
    m2m_fail "Kuc from the MEF $cred != HMAC(exported Ke) $want"
ok "fetchCredentials/<KeId in upper case>/12: Kuc = HMAC-SHA-256(Ke, label||SUID||target)"
! grep -q -i -e "$KE1" -e "$KPM1" -e "$PSK_GW1" -e "$want" "$T/mef.log" ||
    m2m_fail "a key appears in the MEF's log"
ok "no key in the log"

# --- refusals: each with its exact reply, nothing stored ----------------------
n0=$(kes)
# wrong Kpm: the handshake fails, no HTTP at all
out=$(req kpm-dev1 "$PSK_GW2" "$T/boot1")
[ -z "$(status_of "$out")" ] || m2m_fail "a wrong Kpm got an HTTP reply: $out"
m2m_expect_contains "$out" "alert bad record mac"
grep -q 'event=handshake who="kpm-dev1" .* outcome=refused reason="bad record mac"' \
    "$T/mef.log" || m2m_fail "no log line for the wrong Kpm"
ok "wrong Kpm: handshake refused (bad record mac), logged"
# unknown KpmId: no PSK in the token, the handshake fails
out=$(req kpm-nobody "$KPM1" "$T/boot1")
[ -z "$(status_of "$out")" ] || m2m_fail "an unknown KpmId got a reply: $out"
grep -q 'event=handshake who="kpm-nobody" .* outcome=refused reason="unknown PSK identity"' "$T/mef.log" ||
    m2m_fail "no log line for the unknown KpmId"
ok "unknown KpmId: handshake refused, logged"
# an identity with C1 controls (CSI, raw and UTF-8): logged as \xHH only
# (a second after the last refusal of its kind, whose lines are limited)
sleep 1.1
out=$(req $'evil\xc2\x9b31m\x9b' "$KPM1" "$T/boot1")
[ -z "$(status_of "$out")" ] || m2m_fail "an unknown identity got a reply: $out"
grep -q -F 'event=handshake who="evil\xc2\x9b31m\x9b" ' "$T/mef.log" ||
    m2m_fail "no escaped log line for an identity with C1 controls"
! LC_ALL=C grep -q $'[\x80-\xff]' "$T/mef.log" ||
    m2m_fail "a byte >= 0x80 in the MEF's log"
ok "an identity with C1 controls: logged escaped, no byte >= 0x80 in the log"
# wrong SNI
out=$(SNI=other.example.com req kpm-dev1 "$KPM1" "$T/boot1")
[ -z "$(status_of "$out")" ] || m2m_fail "a wrong SNI got a reply: $out"
m2m_expect_contains "$out" "unrecognized name"
ok "SNI other than the MEF-FQDN: handshake refused"

# a target's identity may not bootstrap
out=$(req "$GW1" "$PSK_GW1" "$T/boot1")
expect "$out" 403 4103 "the TLS identity is not an enrolee"
ok "bootstrap by a target: 403 4103"
# target not allowed
post_file "$T/b" "{\"Targets\": [\"$GW1\", \"$GW2\"]}"
out=$(req kpm-dev1 "$KPM1" "$T/b")
expect "$out" 403 4103 "target not allowed"
grep -q 'event=bootstrap who="kpm-dev1" .* outcome=refused reason="target not allowed" target="gw2.example.com"' \
    "$T/mef.log" || m2m_fail "no log line for the target not allowed"
ok "bootstrap naming a target not allowed: 403 4103, logged"
# origin differs from the TLS identity
post_file "$T/b" "{\"Targets\": [\"$GW1\"]}" "X-M2M-Origin: kpm-dev2"$'\r\n'
out=$(req kpm-dev1 "$KPM1" "$T/b")
expect "$out" 403 4103 "X-M2M-Origin differs from the TLS identity"
ok "bootstrap with an X-M2M-Origin not the TLS identity: 403 4103"

# malformed bodies
bad_body()	# BODY ERRORSTRING
{
	post_file "$T/b" "$1"
	out=$(req kpm-dev1 "$KPM1" "$T/b")
	expect "$out" 400 4000 "$2"
}
bad_body '' "the body is empty"
bad_body '{"Targets": ["gw1.example.com"' "the body is truncated"
bad_body '{"Targets": "gw1.example.com"}' "Targets is not an array"
bad_body '{"Targets": []}' "Targets must hold 1 to 16 targets"
bad_body '{"Targets": [1]}' "a target is not a string"
bad_body '{"Targets": [""]}' "a target is not a valid ID"
bad_body '{"Targets": ["a\u0001b"]}' "a target is not a valid ID"
bad_body '{"Targets": ["gw1.example.com","gw1.example.com"]}' \
    "a target is named twice"
bad_body '{"Targets": ["gw1.example.com"], "X": 1}' \
    "a member other than Targets"
bad_body '{"targets": ["gw1.example.com"]}' "member Targets is missing"
bad_body '["gw1.example.com"]' "the body is not one JSON object"
bad_body '{"Targets": ["gw1.example.com"]} {}' "data after the JSON object"
bad_body '{"Targets": [[[["x"]]]]}' "the body is nested too deeply"
bad_body "{\"Targets\": [$(printf '"t%d",' $(seq 1 17))\"t\"]}" \
    "Targets must hold 1 to 16 targets"
bad_body $'{"Targets": ["\xff\xfe"]}' "the body is not one JSON object"
printf 'POST /bootstrap HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}' >"$T/b"
expect "$(req kpm-dev1 "$KPM1" "$T/b")" 400 4000 \
    "Content-Type is not application/json"
ok "malformed bootstrap bodies: 400 4000 with the reason"
# oversized body: evhttp refuses it before reading it
big=$(head -c 17000 /dev/zero | tr '\0' ' ')
post_file "$T/b" "{\"Targets\": [\"$GW1\"]}$big"
out=$(req kpm-dev1 "$KPM1" "$T/b")
[ "$(status_of "$out")" = 413 ] || m2m_fail "oversized body: $out"
ok "body over 16 KiB: 413"
# oversized headers
{ printf 'POST /bootstrap HTTP/1.1\r\nHost: x\r\nX-Pad: '
  head -c 9000 /dev/zero | tr '\0' a
  printf '\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'; } >"$T/b"
out=$(req kpm-dev1 "$KPM1" "$T/b")
s=$(status_of "$out")
[ -z "$s" ] || [ "$s" = 431 ] || [ "$s" = 400 ] || [ "$s" = 413 ] ||
    m2m_fail "oversized headers: $out"
[ "$s" != 200 ] || m2m_fail "oversized headers were served"
ok "headers over 8 KiB: refused (${s:-connection closed})"
# truncated body: the connection is closed after the timeout, no reply
printf 'POST /bootstrap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"Targets": [' >"$T/b"
start=$SECONDS
out=$(req kpm-dev1 "$KPM1" "$T/b")
[ -z "$(status_of "$out")" ] || m2m_fail "a truncated body got a reply: $out"
[ $((SECONDS - start)) -lt 15 ] || m2m_fail "the idle connection stayed open"
ok "truncated body: no reply, closed after the timeout"
# a client that connects and never speaks: closed after the timeout, and
# others are served meanwhile
start=$SECONDS
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
get_file "$T/b" "/fetchCredentials/$KEID1" "$GW1"
[ "$(status_of "$(req "$GW1" "$PSK_GW1" "$T/b")")" = 200 ] ||
    m2m_fail "a request was not served while a silent client was connected"
timeout 10 cat <&7 >/dev/null || m2m_fail "the silent client was not closed"
exec 7<&-
[ $((SECONDS - start)) -lt 10 ] || m2m_fail "the silent client stayed too long"
ok "a silent client: others served meanwhile, closed after the timeout"
# garbage request line
printf 'GARBAGE\r\n\r\n' >"$T/b"
out=$(req kpm-dev1 "$KPM1" "$T/b")
[ "$(status_of "$out")" != 200 ] || m2m_fail "garbage served: $out"
ok "garbage request line: refused"
# a second bootstrap on one TLS session
post_file "$T/b1" "{\"Targets\": [\"$GW1\"]}"
sed 's/^Connection: close\r$/Connection: keep-alive\r/' "$T/b1" >"$T/b"
cat "$T/b1" >>"$T/b"
out=$(req kpm-dev1 "$KPM1" "$T/b")
[ "$(grep -a -o 'HTTP/1.1 [0-9]* ' <<<"$out" | wc -l)" -eq 2 ] ||
    m2m_fail "two pipelined requests, not two replies: $out"
m2m_expect_contains "$out" '{"Status":false,"ErrorString":"a second bootstrap on one TLS session"}'
[ "$(kes)" -eq $((n0 + 1)) ] || m2m_fail "the second bootstrap stored"
n0=$(kes)
ok "a second bootstrap on one TLS session: 400 4000 (the first stored)"
[ "$(kes)" -eq "$n0" ] || m2m_fail "a refused bootstrap stored a KeId"
ok "no refused bootstrap stored anything ($(kes) KeIds)"

# methods and paths
get_file "$T/b" /bootstrap kpm-dev1
expect "$(req kpm-dev1 "$KPM1" "$T/b")" 405 4005 \
    "method not allowed on this path"
get_file "$T/b" /nowhere "$GW1"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 404 4004 "unknown path"
printf 'DELETE /fetchCredentials/%s HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: %s\r\nConnection: close\r\n\r\n' \
    "$KEID1" "$GW1" >"$T/b"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 405 4005 \
    "method not allowed on this path"
ok "other methods: 405 4005; other paths: 404 4004"

bad_path()	# PATH ERRORSTRING
{
	get_file "$T/b" "$1" "$GW1"
	expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 400 4000 "$2"
}
bad_path /fetchCredentials "the path names no KeId"
bad_path /fetchCredentials/ "the path names no KeId"
bad_path /fetchCredentials/nohex@$FQDN "the KeId is malformed"
bad_path "/fetchCredentials/${KEID1%@*}" "the KeId is malformed"
bad_path "/fetchCredentials/${KEID1%@*}@bad_fqdn" "the KeId is malformed"
bad_path "/fetchCredentials/$KEID1/9" "the SUID is not a number 10 to 99"
bad_path "/fetchCredentials/$KEID1/100" "the SUID is not a number 10 to 99"
bad_path "/fetchCredentials/$KEID1/05" "the SUID is not a number 10 to 99"
bad_path "/fetchCredentials/$KEID1/12/x" "the SUID is not a number 10 to 99"
bad_path "/fetchCredentials/$KEID1?x=1" \
    "the path holds a query, fragment or escape"
bad_path "/fetchCredentials/%36${KEID1:1}" \
    "the path holds a query, fragment or escape"
ok "malformed fetchCredentials paths: 400 4000 with the reason"

# fetch refusals
get_file "$T/b" "/fetchCredentials/$KEID1" kpm-dev1
expect "$(req kpm-dev1 "$KPM1" "$T/b")" 403 4103 \
    "the TLS identity is not an enrolment target"
get_file "$T/b" "/fetchCredentials/$KEID1"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 400 4000 "X-M2M-Origin is missing"
get_file "$T/b" "/fetchCredentials/$KEID1" "$GW2"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 403 4103 \
    "X-M2M-Origin differs from the TLS identity"
get_file "$T/b" "/fetchCredentials/$KEID1" "$GW2"
expect "$(req "$GW2" "$PSK_GW2" "$T/b")" 403 4103 "target not allowed"
get_file "$T/b" "/fetchCredentials/00000000000000000000000000000000@$FQDN" "$GW1"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 404 4004 "unknown KeId"
get_file "$T/b" "/fetchCredentials/$KEID1" "$GW1" "X-M2M-RI: bad ri"$'\r\n'
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 400 4000 "X-M2M-RI is malformed"
ok "fetch: not a target, no origin, origin not the identity, target not allowed, unknown KeId, bad X-M2M-RI"

# expired lifetime: kpm-dev2 has a 2-second lifetime
post_file "$T/b" "{\"Targets\": [\"$GW1\"]}"
out=$(req kpm-dev2 "$KPM2" "$T/b")
[ "$(status_of "$out")" = 200 ] || m2m_fail "bootstrap of kpm-dev2: $out"
body=$(body_of "$out")
[ "$(jq -c .E2E <<<"$body")" = '{"Hash":"SHA-512","Salt":"AQIDBAUGBwg="}' ] ||
    m2m_fail "E2E of kpm-dev2: $body"
KEID2=$(jq -r .KeId <<<"$body")
sleep 3
get_file "$T/b" "/fetchCredentials/$KEID2" "$GW1"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 403 4103 \
    "the credential lifetime has passed"
ok "fetch after the lifetime: 403 4103"
out=$(mef ke list)
m2m_expect_contains "$out" "$KEID2	KpmId=kpm-dev2	EnroleeID=/in-cse.example.com/CAE02	expires="
m2m_expect_contains "$out" " (expired)	targets=$GW1"
m2m_expect_contains "$out" "$KEID1	KpmId=kpm-dev1"
out=$(mef ke purge)
[ "$out" = "1 expired KeId(s) purged, 1 Ke object(s) destroyed" ] ||
    m2m_fail "ke purge: $out"
get_file "$T/b" "/fetchCredentials/$KEID2" "$GW1"
expect "$(req "$GW1" "$PSK_GW1" "$T/b")" 404 4004 "unknown KeId"
get_file "$T/b" "/fetchCredentials/$KEID1" "$GW1"
[ "$(status_of "$(req "$GW1" "$PSK_GW1" "$T/b")")" = 200 ] ||
    m2m_fail "ke purge took a KeId still in its lifetime"
[ "$(mef ke purge)" = "0 expired KeId(s) purged, 0 Ke object(s) destroyed" ] ||
    m2m_fail "a second ke purge found something"
ok "ke list / ke purge: the expired KeId and its Ke gone (404), the others kept"
! grep -q -i -e "$KE1" -e "$KPM1" -e "$KPM2" -e "$PSK_GW1" "$T/mef.log" ||
    m2m_fail "a key appears in the MEF's log"

# --- stop, kill -9 during bootstraps, restart --------------------------------
# SIGTERM: a clean stop, exit status 0 (under ASan: no leak, no error)
kill -TERM "$MEF_PID"
rc=0
wait "$MEF_PID" || rc=$?
MEF_PID=
[ "$rc" -eq 0 ] || m2m_fail "m2m-mef exited with $rc after SIGTERM"
grep -q "signal 15: stopping" "$T/mef.log" || m2m_fail "no clean stop"
! grep -q -e "Sanitizer" -e "runtime error" "$T/mef.log" ||
    m2m_fail "a sanitizer report in the MEF's log"
ok "SIGTERM: clean stop, exit status 0"
# a Ke that no row names (a bootstrap cut short between its two writes):
# destroyed at start, and only it
ORPHAN=ffffffffffffffffffffffffffffffff@$FQDN
"$MEF_TOKINIT" mef "$T/mef.pin" "$ORPHAN" || m2m_fail "cannot plant an orphan Ke"
mef_start
grep -q "start: destroyed Ke $ORPHAN, which no registry row names" \
    "$T/mef.log" || m2m_fail "the orphan Ke was not destroyed at start"
[ "$(grep -c 'start: destroyed Ke' "$T/mef.log")" -eq 1 ] ||
    m2m_fail "Ke objects with a row were destroyed at start"
get_file "$T/f" "/fetchCredentials/$KEID1" "$GW1"
[ "$(status_of "$(req "$GW1" "$PSK_GW1" "$T/f")")" = 200 ] ||
    m2m_fail "a KeId with a row no longer works after the start"
ok "start: an orphan Ke destroyed, the others kept"
post_file "$T/b" "{\"Targets\": [\"$GW1\"]}"
for round in 1 2 3; do
	nb=$(kes)
	before=$(sqlite3 "$T/registry.db" 'SELECT ke_id FROM kes')
	okb=$(grep -c 'event=bootstrap .* outcome=ok' "$T/mef.log" || true)
	for ((i = 0; i < 16; i++)); do
		req kpm-dev1 "$KPM1" "$T/b" >"$T/k.$i" &
	done
	# kill as soon as the first of them is answered: the others are in
	# flight (handshake, export, key import or row)
	for ((i = 0; i < 400; i++)); do
		[ "$(grep -c 'event=bootstrap .* outcome=ok' "$T/mef.log" ||
		    true)" -le "$okb" ] || break
		sleep 0.01
	done
	kill -KILL "$MEF_PID"
	wait "$MEF_PID" 2>/dev/null || true
	MEF_PID=
	wait
	done16=$(($(kes) - nb))
	[ "$(sqlite3 "$T/registry.db" 'PRAGMA integrity_check')" = ok ] ||
	    m2m_fail "registry damaged after kill -9"
	# a kill -9 loses no bootstrap the MEF answered (synchronous=NORMAL:
	# the row is in the WAL before the reply)
	answered=0
	for ((i = 0; i < 16; i++)); do
		out=$(cat "$T/k.$i")
		[ "$(status_of "$out")" = 200 ] || continue
		# a reply cut by the kill after its status line has no KeId
		k=$(body_of "$out" | jq -r .KeId 2>/dev/null) || continue
		case $k in *@"$FQDN") ;; *) continue ;; esac
		[ "$(sqlite3 "$T/registry.db" \
		    "SELECT count(*) FROM kes WHERE ke_id = '$k'")" = 1 ] ||
		    m2m_fail "after kill -9: the answered KeId $k is not in the registry"
		answered=$((answered + 1))
	done
	mef_start
	# every KeId row written in this round is whole and its Ke is in the
	# token (the earlier rows were fetched in their rounds, and one of
	# them again): fetch each
	for k in "$KEID1" $(sqlite3 "$T/registry.db" \
	    "SELECT ke_id FROM kes WHERE kpm_id = 'kpm-dev1' AND
	    ke_id NOT IN ($(printf "'%s'," $before)'')"); do
		get_file "$T/f" "/fetchCredentials/$k" "$GW1"
		out=$(req "$GW1" "$PSK_GW1" "$T/f")
		[ "$(status_of "$out")" = 200 ] ||
		    m2m_fail "after kill -9: KeId $k: $out"
	done
	# the flow runs again to completion
	out=$(req kpm-dev1 "$KPM1" "$T/b")
	[ "$(status_of "$out")" = 200 ] || m2m_fail "bootstrap after restart"
	ok "kill -9 during 16 bootstraps (round $round, $done16 stored before the kill, $answered answered and all kept): registry whole, the round's KeIds all fetchable, flow runs again"
done

# --- administration while serving: remove takes keys and rows ---------------
mef enrolee remove --kpm-id kpm-dev2 >/dev/null || m2m_fail "enrolee remove"
[ "$(sqlite3 "$T/registry.db" "SELECT count(*) FROM kes WHERE kpm_id = 'kpm-dev2'")" -eq 0 ] ||
    m2m_fail "KeIds of a removed enrolee stay"
out=$(req kpm-dev2 "$KPM2" "$T/b")
[ -z "$(status_of "$out")" ] || m2m_fail "a removed enrolee's Kpm still works"
out=$(mef enrolee remove --kpm-id kpm-dev2 2>&1) && m2m_fail "second remove"
m2m_expect_contains "$out" "no enrolee kpm-dev2"
mef target remove --id "$GW2" >/dev/null || m2m_fail "target remove"
[ "$(mef target list)" = "$GW1" ] || m2m_fail "target list after remove"
ok "enrolee remove / target remove: rows and keys gone, handshake refused"

# --- trickling handshakes: a deadline, a cap, no accept loop -----------------
# A peer without a key opens more connections than the MEF may hold, each
# sending its ClientHello a byte every 0.5 s (so the 2 s idle timeout never
# fires), under a descriptor limit set on the running MEF (prlimit): each is
# closed at its deadline, no more than max_connections are open, an accept
# error pauses accepting (no warning loop), and a fetch is served.
TRICKLE_PID=
trickle_stop()
{
	[ -z "$TRICKLE_PID" ] || m2m_stop "$TRICKLE_PID"
	TRICKLE_PID=
}
m2m_defer trickle_stop
# trickle N SECONDS: N connections to PORT trickling a ClientHello, in the
# background; $T/trickle.ready once all are connected, then on exit one
# line in $T/trickle.out: "closed=K n=N" (K: closed by the MEF within
# SECONDS).
trickle()
{
	rm -f "$T/trickle.ready"
	python3 - "$PORT" "$1" "$2" "$T/trickle.ready" >"$T/trickle.out" \
	    2>&1 <<'PY' &
import select, socket, sys, time
port, n, limit, ready = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
# a TLS record of 512 bytes holding a ClientHello: never whole here
hello = bytes.fromhex("1603010200" "010001fc0303") + bytes(506)
socks = []
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
start = time.monotonic()
pending = list(socks)
while pending and time.monotonic() - start < 10:
    _, w, _ = select.select([], pending, [], 0.5)
    pending = [s for s in pending if s not in w]
if pending:
    sys.exit("%d connections not made" % len(pending))
open(ready, "w").close()
sent = {s: 0 for s in socks}
closed = set()
start = time.monotonic()
while len(closed) < n and time.monotonic() - start < limit:
    live = [s for s in socks if s not in closed]
    r, _, _ = select.select(live, [], [], 0)
    for s in r:
        try:
            if s.recv(4096) == b"":
                closed.add(s)
        except OSError:
            closed.add(s)
    for s in live:
        if s in closed:
            continue
        try:
            s.send(hello[sent[s]:sent[s] + 1])
            sent[s] += 1
        except BlockingIOError:
            pass
        except OSError:
            closed.add(s)
    time.sleep(0.5)
print("closed=%d n=%d" % (len(closed), n))
PY
	TRICKLE_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ ! -e "$T/trickle.ready" ] || return 0
		kill -0 "$TRICKLE_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/trickle.out" >&2
	m2m_fail "the trickling connections were not made"
}
# trickle_done: wait for the helper; all its connections closed by the MEF.
trickle_done()
{
	wait "$TRICKLE_PID" || true
	TRICKLE_PID=
	out=$(cat "$T/trickle.out")
	if ! [[ $out =~ ^closed=([0-9]+)\ n=([0-9]+)$ ]] ||
	    [ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]; then
		m2m_fail "trickling connections not closed by their deadline: $out"
	fi
}
# fds: the number of descriptors the MEF has open.
fds()
{
	local f=("/proc/$MEF_PID/fd/"*)

	echo "${#f[@]}"
}
# fds_free K: the lowest descriptor limit that leaves the MEF K free
# descriptors, given those it has open now.
fds_free()
{
	local n=0 free=0

	while :; do
		[ -e "/proc/$MEF_PID/fd/$n" ] || free=$((free + 1))
		n=$((n + 1))
		[ "$free" -lt "$1" ] || break
	done
	echo "$n"
}
kill -TERM "$MEF_PID"
wait "$MEF_PID" || m2m_fail "m2m-mef did not stop cleanly before the restart"
MEF_PID=
mef_conf 2
sed -i '/^timeout = /a max_connections = 8' "$T/mef.conf"
mef_start
get_file "$T/f" "/fetchCredentials/$KEID1" "$GW1"
[ "$(status_of "$(req "$GW1" "$PSK_GW1" "$T/f")")" = 200 ] ||
    m2m_fail "fetch before the trickling handshakes"
nofile=$(prlimit --pid "$MEF_PID" --nofile --output=SOFT --noheadings \
    --raw)
base=$(fds)
lines=$(wc -l <"$T/mef.log")
# 16 descriptors free, 24 trickling connections, at most 8 open at once
prlimit --pid "$MEF_PID" --nofile="$(fds_free 16):" ||
    m2m_fail "prlimit on m2m-mef"
trickle 24 30
sleep 1
open=$(($(fds) - base))
[ "$open" -le 9 ] || m2m_fail "$open connections open, max_connections is 8"
start=$SECONDS
out=$(req "$GW1" "$PSK_GW1" "$T/f")
[ "$(status_of "$out")" = 200 ] ||
    m2m_fail "a fetch was not served among trickling handshakes: $out"
[ $((SECONDS - start)) -le 12 ] ||
    m2m_fail "a fetch among trickling handshakes took $((SECONDS - start)) s"
trickle_done
[ $(($(wc -l <"$T/mef.log") - lines)) -le 10 ] ||
    m2m_fail "the log grew by $(($(wc -l <"$T/mef.log") - lines)) lines"
grep -q '8 connections open (\[listen\] max_connections)' "$T/mef.log" ||
    m2m_fail "no log line for max_connections reached"
ok "trickling handshakes past max_connections: at most 8 open, each closed at its deadline, a fetch served in $((SECONDS - start)) s"
# 6 descriptors free, under the cap: accept() fails with EMFILE for the
# fetch until the trickling connections' deadline
lines=$(wc -l <"$T/mef.log")
prlimit --pid "$MEF_PID" --nofile="$(fds_free 6):" ||
    m2m_fail "prlimit on m2m-mef"
trickle 6 30
start=$SECONDS
out=$(req "$GW1" "$PSK_GW1" "$T/f")
[ "$(status_of "$out")" = 200 ] ||
    m2m_fail "a fetch was not served after EMFILE: $out"
[ $((SECONDS - start)) -le 8 ] ||
    m2m_fail "a fetch after EMFILE took $((SECONDS - start)) s"
trickle_done
prlimit --pid "$MEF_PID" --nofile="$nofile:" || m2m_fail "prlimit on m2m-mef"
[ "$(tail -n +"$((lines + 1))" "$T/mef.log" | grep -c 'accept: Too many open files')" -eq 1 ] ||
    m2m_fail "not one log line for EMFILE"
[ $(($(wc -l <"$T/mef.log") - lines)) -le 10 ] ||
    m2m_fail "the log grew by $(($(wc -l <"$T/mef.log") - lines)) lines"
ok "accept() failing with EMFILE: one log line, accepting again after the deadline, a fetch served in $((SECONDS - start)) s"
# A target with its key: one fetch on a keep-alive connection, then the
# next request a byte every 0.5 s (each byte restarts evhttp's 2 s idle
# timeout): the deadline closes the connection 2 s after the first request.
sed 's/^Connection: close\r$/Connection: keep-alive\r/' "$T/f" >"$T/f_ka"
start=$SECONDS
out=$({ cat "$T/f_ka"; for i in $(seq 24); do printf G; sleep 0.5; done; } |
    timeout 30 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
    -servername "$FQDN" -psk_identity "$GW1" -psk "$PSK_GW1" -ign_eof \
    -nocommands 2>&1 || true)
took=$((SECONDS - start))
[ "$(status_of "$out")" = 200 ] ||
    m2m_fail "the keep-alive fetch was not served: $out"
[ "$took" -le 6 ] ||
    m2m_fail "a trickled second request held the connection $took s"
ok "keep-alive: a trickled next request is closed at its deadline ($took s)"

kill -INT "$MEF_PID"
rc=0
wait "$MEF_PID" || rc=$?
MEF_PID=
[ "$rc" -eq 0 ] || m2m_fail "m2m-mef exited with $rc after SIGINT"
! grep -q -e "Sanitizer" -e "runtime error" "$T/mef.log" ||
    m2m_fail "a sanitizer report in the MEF's log"
ok "SIGINT: clean stop, exit status 0"
# an unknown schema version is refused, nothing changed
sqlite3 "$T/registry.db" 'UPDATE schema_version SET version = 99'
out=$(mef enrolee list 2>&1) && m2m_fail "schema 99 accepted"
m2m_expect_contains "$out" "schema version 99 is not 2"
ok "a registry of an unknown schema version is refused"
# [listen] max_connections out of range: the configuration is refused
for v in 0 65536 x -1; do
	sed "/^max_connections = /d; /^timeout = /a max_connections = $v" \
	    "$T/mef.conf" >"$T/bad.conf"
	out=$("$MEF" -c "$T/bad.conf" enrolee list 2>&1) &&
	    m2m_fail "max_connections = $v accepted"
	m2m_expect_contains "$out" "bad value for [listen] max_connections"
done
ok "[listen] max_connections 0, 65536, x, -1: refused, named"

echo "$PASS passed, 0 failed"
