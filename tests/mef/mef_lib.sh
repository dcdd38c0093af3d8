# shellcheck shell=bash
# Helpers of the tests that run the real m2m-mef (tests/mef/test_mef*.sh,
# daemon/m2mtokend/tests/test_m2mtokend_{mef,cert}.sh): sourced after
# tests/integration/lib.sh; the functions are called after m2m_setup.
#
#   mef_token            the MEF's token "mef" (deliver_derived on)
#   mef_tls_key          an EC P-256 key pair mef-tls (id 01) in that token
#   mef_csr              the MEF's CSR for FQDN, signed by mef-tls
#   mef_conf TIMEOUT [MAP]   $M2M_TMP/mef.conf; with MAP also [cert]
#   mef ARGS...          m2m-mef's administration on that configuration
#   mef_target ID PSKHEX an enrolment target and its PSK
#   mef_start            start m2m-mef; sets MEF_PID, PORT (and CPORT)
#   mef_stop             stop it (also at cleanup)
#
# Test CAs and enrolees of the certificate listener (openssl ca, s_client):
#   mef_ca NAME [ISSUER] a P-256 CA, $M2M_TMP/NAME.pem and NAME.key, with
#                        its own openssl ca database ($M2M_TMP/NAME.cnf):
#                        self-signed, or an intermediate CA ISSUER issues;
#                        subject CN=NAME, or CN=$MEF_CA_CN when set
#   mef_sign CA CSR OUT START END [EXT]   CA issues OUT, an end-entity
#                        certificate (CA:FALSE, digitalSignature, EXT)
#   mef_revoke CA CERT   CERT revoked in CA's database
#   mef_crl CA OUT       CA's CRL of its database (2 days) in OUT
#   mef_crl_at CA OUT LAST NEXT   the same with lastUpdate LAST and
#                        nextUpdate NEXT (YYYYMMDDHHMMSSZ): expired, or not
#                        valid yet
#   mef_enrolee_csr CN KEYNAME   a P-256 key $M2M_TMP/KEYNAME.key (made
#                        once) and a CSR $M2M_TMP/CN.csr
#   mef_creq CERT KEY FILE [CIPHER] [CHAIN]   s_client's whole output for
#                        FILE sent over the certificate listener with CERT
#                        (none when empty), KEY and the CA certificates of
#                        the file CHAIN; the MEF verified against test-ca
#   mef_ke_objects       the number of Ke objects in the MEF's token
#   mef_refused WHAT LOGLINE CERT KEY [CHAIN]   the bootstrap request
#                        $M2M_TMP/boot with CERT is refused in the
#                        handshake, m2m-mef logs LOGLINE, nothing stored
#   mef_booted WHAT CERT KEY [CHAIN]   that request is answered 200 2001
#   mef_hup              SIGHUP to m2m-mef; waits for its "SIGHUP:" line
#   mef_log_since N STRING   a line of mef.log after its first N lines
#                        holds STRING (waits up to 5 s)
#
# The MEF's replies (s_client's whole output OUT):
#   status_of OUT, rsc_of OUT, body_of OUT, ekm_of OUT   the HTTP status,
#                        X-M2M-RSC, the JSON body, s_client's exported
#                        keying material (lower hex)
#   expect OUT STATUS RSC ERRORSTRING   a refusal, exactly
#   post_file FILE BODY [EXTRA-HEADER-LINES]   a bootstrap request in FILE
#   kes                  the number of KeIds in the registry
#   hmac KEYHEX DATA     HMAC-SHA-256, lower hex; b64hex B64: lower hex
#
# Environment in: M2M_MEF, M2M_MEF_TOKINIT (CMake passes both).
# Out: MEF (m2m-mef's path), FQDN, MEF_PIN (the MEF token's user PIN; in
# $M2M_TMP/mef.pin), MEF_PID, PORT, CPORT.  m2m_fail also prints the last
# lines of the MEF's log, $M2M_TMP/mef.log.

# What the MEF tests share: two enrolees' Kpms, a target and its PSK, and
# ok, which prints a check that passed and counts it in PASS.
# shellcheck disable=SC2034 # used by the tests that source this file
KPM1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# shellcheck disable=SC2034
KPM2=2021222324252627282930313233343536373839404142434445464748494a4b
# shellcheck disable=SC2034
PSK_GW1=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
# shellcheck disable=SC2034
GW1=gw1.example.com
PASS=0

ok()
{
	PASS=$((PASS + 1))
	echo "ok: $*"
}
MEF=${M2M_MEF:?M2M_MEF: path of m2m-mef}
MEF_TOKINIT=${M2M_MEF_TOKINIT:?M2M_MEF_TOKINIT: path of mef_tokinit}
FQDN=mef.example.com
MEF_PIN=mef-user-pin
MEF_PID=
MEF_DEFERRED=
PORT=
CPORT=

# m2m_fail MSG: the MEF's last log lines, then as lib.sh's.
m2m_fail()
{
	if [ -s "$M2M_TMP/mef.log" ]; then
		echo "--- m2m-mef log (last lines) ---" >&2
		tail -n 15 "$M2M_TMP/mef.log" >&2
	fi
	printf '[%s] FAIL: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# mef_token: the token "mef" on the module, its PIN in $M2M_TMP/mef.pin;
# the module's configuration delivers derived keys (the MEF's Kpsa/Kuc).
mef_token()
{
	printf '\n[token]\ndeliver_derived = yes\n' >>"$M2MTOKEN_CONF"
	printf '%s\n' "$MEF_PIN" >"$M2M_TMP/mef.pin"
	chmod 600 "$M2M_TMP/mef.pin"
	"$MEF_TOKINIT" mef "$M2M_TMP/mef.pin" ||
	    m2m_fail "cannot initialise the MEF token"
}

# mef_tls_key: the key pair of the MEF's certificate listener, made in its
# token by pkcs11-tool (label mef-tls, CKA_ID 01).
mef_tls_key()
{
	local out

	out=$(m2m_ext m2m_p11tool --token-label mef --login --pin "$MEF_PIN" \
	    --keypairgen --key-type EC:prime256v1 --label mef-tls --id 01 \
	    2>&1) || m2m_fail "keypairgen in the MEF token: $out"
}

# mef_csr: $M2M_TMP/mef.csr for CN=FQDN, signed in the token by mef-tls
# (openssl with libp11's engine, configured in $M2M_TMP/engine.cnf).
mef_csr()
{
	m2m_engine_conf "$M2M_TMP/engine.cnf"
	OPENSSL_CONF=$M2M_TMP/engine.cnf m2m_ext openssl req -new \
	    -engine pkcs11 -keyform engine \
	    -key "pkcs11:token=mef;object=mef-tls;type=private;pin-value=$MEF_PIN" \
	    -subj "/CN=$FQDN" -out "$M2M_TMP/mef.csr" >/dev/null 2>&1 ||
	    m2m_fail "the MEF's CSR"
}

# mef_conf TIMEOUT [MAP]: $M2M_TMP/mef.conf, PSK listener on a free
# loopback port, the token "mef", the registry $M2M_TMP/registry.db; with
# MAP the certificate listener too (key mef-tls, certificate
# $M2M_TMP/mef-cert.pem, CA $M2M_TMP/test-ca.pem, map = MAP).
mef_conf()
{
	cat >"$M2M_TMP/mef.conf" <<CONF
[mef]
fqdn = $FQDN
[listen]
address = 127.0.0.1
port = 0
timeout = $1
[token]
module = $M2MTOKEN_MODULE
config = $M2MTOKEN_CONF
label = mef
pin_file = $M2M_TMP/mef.pin
[registry]
path = $M2M_TMP/registry.db
CONF
	[ -z "${2:-}" ] || cat >>"$M2M_TMP/mef.conf" <<CONF
[cert]
port = 0
key = pkcs11:token=mef;object=mef-tls;type=private
cert = $M2M_TMP/mef-cert.pem
ca = $M2M_TMP/test-ca.pem
map = $2
CONF
}

# mef ARGS...: m2m-mef on $M2M_TMP/mef.conf (enrolee and target commands).
mef()
{
	"$MEF" -c "$M2M_TMP/mef.conf" "$@"
}

# mef_target ID PSKHEX: the enrolment target ID with PSKHEX (on stdin).
mef_target()
{
	printf '%s' "$2" | mef target add --id "$1" --psk-file - >/dev/null ||
	    m2m_fail "target add $1 failed"
}

# mef_start: m2m-mef serves $M2M_TMP/mef.conf (stdout $M2M_TMP/mef.out,
# stderr appended to $M2M_TMP/mef.log); sets MEF_PID and PORT, and CPORT
# when the configuration has [cert]; fails when it exits or does not say
# its ports within 10 s.  The first call has mef_stop run at cleanup.
mef_start()
{
	local i cert=

	grep -q '^\[cert\]' "$M2M_TMP/mef.conf" && cert=1
	[ -n "$MEF_DEFERRED" ] || m2m_defer mef_stop
	MEF_DEFERRED=1
	: >"$M2M_TMP/mef.out"
	"$MEF" -c "$M2M_TMP/mef.conf" >"$M2M_TMP/mef.out" \
	    2>>"$M2M_TMP/mef.log" </dev/null &
	MEF_PID=$!
	for ((i = 0; i < 100; i++)); do
		# one write holds both lines: read the second one first, or
		# PORT may be read before the write and CPORT after it
		CPORT=$(sed -n 's/^listening-cert 127.0.0.1 //p' \
		    "$M2M_TMP/mef.out")
		PORT=$(sed -n 's/^listening 127.0.0.1 //p' "$M2M_TMP/mef.out")
		[ -n "$PORT" ] && { [ -z "$cert" ] || [ -n "$CPORT" ]; } &&
		    return 0
		kill -0 "$MEF_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$M2M_TMP/mef.log" >&2
	m2m_fail "m2m-mef did not start"
}

# mef_stop: TERM to the m2m-mef mef_start started (m2m_stop), if any.
mef_stop()
{
	[ -z "$MEF_PID" ] || m2m_stop "$MEF_PID"
	MEF_PID=
}

# --- test CAs and enrolees of the certificate listener ---------------------
MEF_NOW_M1=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
MEF_NOW_P1=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)

mef_ca()
{
	local t=$M2M_TMP

	mkdir -p "$t/$1.db/new"
	: >"$t/$1.db/index.txt"
	echo 1000 >"$t/$1.db/serial"
	cat >"$t/$1.cnf" <<CONF
[ca]
default_ca = d
[d]
database = $t/$1.db/index.txt
new_certs_dir = $t/$1.db/new
serial = $t/$1.db/serial
default_md = sha256
policy = p
unique_subject = no
copy_extensions = copy
[p]
commonName = supplied
CONF
	if [ -z "${2:-}" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -keyout "$t/$1.key" -out "$t/$1.pem" \
		    -subj "/CN=${MEF_CA_CN:-$1}" -days 2 2>/dev/null ||
		    m2m_fail "cannot make the CA $1"
		return
	fi
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$t/$1.key" -out "$t/$1.csr" -subj "/CN=${MEF_CA_CN:-$1}" \
	    2>/dev/null ||
	    m2m_fail "the CSR of the CA $1"
	printf '%s\n' "[e]" "basicConstraints=critical,CA:TRUE" \
	    "keyUsage=critical,keyCertSign,cRLSign" >"$t/$1.ext"
	openssl ca -batch -config "$t/$2.cnf" -cert "$t/$2.pem" \
	    -keyfile "$t/$2.key" -in "$t/$1.csr" -out "$t/$1.pem" \
	    -startdate "$MEF_NOW_M1" -enddate "$MEF_NOW_P1" \
	    -extfile "$t/$1.ext" -extensions e -notext >/dev/null 2>&1 ||
	    m2m_fail "the CA $2 cannot issue the CA $1"
}

mef_sign()
{
	local ext=$M2M_TMP/ext.$RANDOM

	printf '%s\n' "[e]" basicConstraints=CA:FALSE \
	    keyUsage=digitalSignature ${6:+"$6"} >"$ext"
	openssl ca -batch -config "$M2M_TMP/$1.cnf" -cert "$M2M_TMP/$1.pem" \
	    -keyfile "$M2M_TMP/$1.key" -in "$2" -out "$3" -startdate "$4" \
	    -enddate "$5" -extfile "$ext" -extensions e -notext \
	    >/dev/null 2>&1 || m2m_fail "the CA $1 cannot sign $2"
}

mef_revoke()
{
	openssl ca -batch -config "$M2M_TMP/$1.cnf" -cert "$M2M_TMP/$1.pem" \
	    -keyfile "$M2M_TMP/$1.key" -revoke "$2" >/dev/null 2>&1 ||
	    m2m_fail "the CA $1 cannot revoke $2"
}

mef_crl()
{
	openssl ca -batch -config "$M2M_TMP/$1.cnf" -cert "$M2M_TMP/$1.pem" \
	    -keyfile "$M2M_TMP/$1.key" -gencrl -crldays 2 -out "$2" \
	    >/dev/null 2>&1 || m2m_fail "the CA $1 cannot make its CRL"
}

mef_crl_at()
{
	openssl ca -batch -config "$M2M_TMP/$1.cnf" -cert "$M2M_TMP/$1.pem" \
	    -keyfile "$M2M_TMP/$1.key" -gencrl -crl_lastupdate "$3" \
	    -crl_nextupdate "$4" -out "$2" >/dev/null 2>&1 ||
	    m2m_fail "the CA $1 cannot make its CRL ($3 to $4)"
}

mef_enrolee_csr()
{
	[ -f "$M2M_TMP/$2.key" ] || openssl genpkey -algorithm EC \
	    -pkeyopt ec_paramgen_curve:P-256 -out "$M2M_TMP/$2.key" 2>/dev/null
	openssl req -new -key "$M2M_TMP/$2.key" -subj "/CN=$1" \
	    -out "$M2M_TMP/$1.csr" 2>/dev/null || m2m_fail "the CSR of $1"
}

mef_creq()
{
	local c=()

	[ -z "$1" ] || c=(-cert "$1" -key "$2")
	[ -z "${5:-}" ] || c+=(-cert_chain "$5")
	timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$CPORT" \
	    -servername "$FQDN" "${c[@]}" -CAfile "$M2M_TMP/test-ca.pem" \
	    -verify_return_error -verify_hostname "$FQDN" \
	    -cipher "${4:-ECDHE-ECDSA-AES128-SHA256}" \
	    -keymatexport EXPORTER-oneM2M-Bootstrap -keymatexportlen 48 \
	    -ign_eof -nocommands <"$3" 2>&1 || true
}

mef_ke_objects()
{
	m2m_ext m2m_p11tool --token-label mef --login --pin "$MEF_PIN" \
	    --list-objects --type secrkey 2>/dev/null |
	    grep -c "@$FQDN" || true
}

mef_log_since()
{
	local i

	for ((i = 0; i < 50; i++)); do
		tail -n "+$(($1 + 1))" "$M2M_TMP/mef.log" | grep -q -F -- "$2" &&
		    return 0
		sleep 0.1
	done
	return 1
}

mef_refused()
{
	local out n k o

	n=$(wc -l <"$M2M_TMP/mef.log")
	k=$(kes)
	o=$(mef_ke_objects)
	out=$(mef_creq "$3" "$4" "$M2M_TMP/boot" "" "${5:-}")
	[ -z "$(status_of "$out")" ] || { printf '%s\n' "$out" >&2;
		m2m_fail "$1: an HTTP answer"; }
	mef_log_since "$n" "$2" || m2m_fail "$1: no log line '$2'"
	[ "$(kes)" -eq "$k" ] && [ "$(mef_ke_objects)" -eq "$o" ] ||
	    m2m_fail "$1: something stored"
	echo "ok: $1: handshake refused ($2), nothing stored"
}

mef_booted()
{
	local out

	out=$(mef_creq "$2" "$3" "$M2M_TMP/boot" "" "${4:-}")
	[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2001 ] || {
		printf '%s\n' "$out" >&2; m2m_fail "$1: no bootstrap"; }
	echo "ok: $1: bootstrapped (200 2001)"
}

mef_hup()
{
	local n i

	n=$(grep -c 'SIGHUP:' "$M2M_TMP/mef.log" || true)
	kill -HUP "$MEF_PID" || m2m_fail "SIGHUP: m2m-mef is not running"
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'SIGHUP:' "$M2M_TMP/mef.log" || true)" -gt "$n" ] &&
		    return 0
		kill -0 "$MEF_PID" 2>/dev/null ||
		    m2m_fail "m2m-mef died of SIGHUP"
		sleep 0.1
	done
	m2m_fail "no SIGHUP line from m2m-mef within 5 s"
}

# --- the MEF's replies ------------------------------------------------------
status_of() { sed -n 's/^HTTP\/1\.1 \([0-9]*\).*/\1/p' <<<"$1" | head -n 1; }
rsc_of() { sed -n 's/^X-M2M-RSC: *\([0-9]*\).*/\1/p' <<<"$1" | tr -d '\r' | head -n 1; }
body_of() { grep -a -o "^{.*}" <<<"$1" | tail -n 1; }
ekm_of() { sed -n 's/^ *Keying material: *//p' <<<"$1" | tr 'A-F' 'a-f'; }
kes() { sqlite3 "$M2M_TMP/registry.db" 'SELECT count(*) FROM kes'; }

# post_file FILE BODY [EXTRA-HEADER-LINES]: a bootstrap request.
post_file()
{
	printf 'POST /bootstrap HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n%s' \
	    "$FQDN" "${#2}" "${3:-}" "$2" >"$1"
}

# expect OUT STATUS RSC ERRORSTRING: OUT is that refusal, exactly.
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

# hmac KEYHEX DATA: HMAC-SHA-256 of DATA, lower hex.
hmac()
{
	printf '%s' "$2" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" |
	    sed 's/.*= *//'
}
b64hex() { base64 -d <<<"$1" | xxd -p -c 64; }
