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

m2m_setup "${1:?usage: test_mef.sh hsm}"

MEF=${M2M_MEF:?M2M_MEF: path of m2m-mef}
TOKINIT=${M2M_MEF_TOKINIT:?M2M_MEF_TOKINIT: path of mef_tokinit}
FQDN=mef.example.com
T=$M2M_TMP
KPM1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
KPM2=2021222324252627282930313233343536373839404142434445464748494a4b
PSK_GW1=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
PSK_GW2=c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf
GW1=gw1.example.com
GW2=gw2.example.com
KPSA_LABEL="oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
KUC_LABEL="oneM2M Enrolment Key to Usage-Constrained Symmetric Key derivation"
PASS=0

ok()
{
	PASS=$((PASS + 1))
	echo "ok: $*"
}

# The MEF's token: its own label on the module, deliver_derived on.
printf '\n[token]\ndeliver_derived = yes\n' >>"$M2MTOKEN_CONF"
printf 'mef-user-pin\n' >"$T/mef.pin"
chmod 600 "$T/mef.pin"
"$TOKINIT" mef "$T/mef.pin" || m2m_fail "cannot initialise the MEF token"

cat >"$T/mef.conf" <<CONF
[mef]
fqdn = $FQDN
[listen]
address = 127.0.0.1
port = 0
timeout = 2
[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF
label = mef
pin_file = $T/mef.pin
[registry]
path = $T/registry.db
CONF

mef()
{
	"$MEF" -c "$T/mef.conf" "$@"
}

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
printf '%s' "$PSK_GW1" | mef target add --id "$GW1" --psk-file - >/dev/null ||
    m2m_fail "target add gw1 failed"
printf '%s' "$PSK_GW2" | mef target add --id "$GW2" --psk-file - >/dev/null ||
    m2m_fail "target add gw2 failed"
out=$(mef enrolee list)
m2m_expect_contains "$out" "kpm-dev1	EnroleeID=/in-cse.example.com/CAE01	lifetime=3600	hash=sha256	salt=-	targets=$GW1"
m2m_expect_contains "$out" "kpm-dev2	EnroleeID=/in-cse.example.com/CAE02	lifetime=2	hash=sha512	salt=0102030405060708"
out=$(mef target list)
[ "$out" = "$GW1"$'\n'"$GW2" ] || m2m_fail "target list: $out"
# refusals of the administration, nothing written
out=$(printf '%s' "$KPM1" | mef enrolee add --kpm-id kpm-dev1 --enrolee-id x \
    --target "$GW1" --lifetime 5 --kpm-file - 2>&1) && m2m_fail "duplicate add"
m2m_expect_contains "$out" "kpm-dev1 is already an enrolee or a target"
out=$(printf 'short' | mef enrolee add --kpm-id kpm-x --enrolee-id x \
    --target "$GW1" --lifetime 5 --kpm-file - 2>&1) && m2m_fail "short key"
m2m_expect_contains "$out" "a key is 16 to 64 bytes"
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
MEF_PID=
PORT=
start_mef()
{
	local i

	: >"$T/mef.out"
	"$MEF" -c "$T/mef.conf" >"$T/mef.out" 2>>"$T/mef.log" </dev/null &
	MEF_PID=$!
	for ((i = 0; i < 100; i++)); do
		PORT=$(sed -n 's/^listening 127.0.0.1 //p' "$T/mef.out")
		[ -n "$PORT" ] && return 0
		kill -0 "$MEF_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/mef.log" >&2
	m2m_fail "m2m-mef did not start"
}
stop_mef()
{
	[ -z "$MEF_PID" ] || m2m_stop "$MEF_PID"
	MEF_PID=
}
m2m_defer stop_mef
start_mef

# req ID PSK FILE: send FILE over TLS-PSK; the whole s_client output.
req()
{
	timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "${SNI:-$FQDN}" -psk_identity "$1" -psk "$2" \
	    -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 \
	    -ign_eof -nocommands <"$3" 2>&1 || true
}
status_of() { sed -n 's/^HTTP\/1\.1 \([0-9]*\).*/\1/p' <<<"$1" | head -n 1; }
rsc_of() { sed -n 's/^X-M2M-RSC: *\([0-9]*\).*/\1/p' <<<"$1" | tr -d '\r' | head -n 1; }
body_of() { grep -a -o "^{.*}" <<<"$1" | tail -n 1; }
ekm_of() { sed -n 's/^ *Keying material: *//p' <<<"$1" | tr 'A-F' 'a-f'; }
kes() { sqlite3 "$T/registry.db" 'SELECT count(*) FROM kes'; }

# post_file FILE BODY [EXTRA-HEADER-LINES]: a bootstrap request.
post_file()
{
	printf 'POST /bootstrap HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n%s' \
	    "$FQDN" "${#2}" "${3:-}" "$2" >"$1"
}
# get_file FILE PATH ORIGIN [EXTRA]: a fetchCredentials request.
get_file()
{
	printf 'GET %s HTTP/1.1\r\nHost: %s\r\n%s%sConnection: close\r\n\r\n' \
	    "$2" "$FQDN" "${3:+X-M2M-Origin: $3$'\r\n'}" "${4:-}" >"$1"
}

# expect OUT STATUS RSC ERRORSTRING
expect()
{
	local s r b
	s=$(status_of "$1")
	r=$(rsc_of "$1")
	b=$(body_of "$1")
	if [ "$s" != "$2" ] || [ "$r" != "$3" ] ||
	    [ "$b" != "{\"Status\":false,\"ErrorString\":\"$4\"}" ]; then
		printf '%s\n' "--- reply ---" "$1" "--- end ---" >&2
		m2m_fail "expected $2 / $3 / $4, got $s / $r / $b"
	fi
}

hmac()	# KEYHEX DATA
{
	printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" |
	    sed 's/.*= *//'
}
b64hex() { base64 -d <<<"$1" | xxd -p -c 64; }

# --- bootstrap, raw-key enrolee ---------------------------------------------
post_file "$T/boot1" "{\"Targets\": [\"$GW1\"]}" "X-M2M-RI: ri-001"$'\r\n'
out=$(req kpm-dev1 "$KPM1" "$T/boot1")
[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2001 ] || {
	cat "$T/mef.log" >&2; printf '%s\n' "$out" >&2
	m2m_fail "bootstrap failed"; }
m2m_expect_contains "$out" "X-M2M-RI: ri-001"
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
