#!/usr/bin/env bash
# m2m-label: daemon mef
# The certificate-based bootstrap (TS-0003 8.3.2.2) end to end with the real
# m2m-mef: a test CA made here with OpenSSL; the MEF's key made in its token;
# the device's key made by "m2mtoken keygen" in the device daemon's token,
# its request by "m2mtoken csr" (signed there), issued by the CA and stored
# by "m2mtoken cert import"; then "m2mtoken bootstrap --framework
# certificate" over TLS 1.2 ECDHE-ECDSA.  The KeId the device got is the
# MEF's, and the Ke is the same on both sides: a gateway daemon fetches the
# Kpsa from the MEF (PSK), the device derives it from its Ke, and a MIC made
# on one side verifies on the other.  Refused, each with its exact error and
# nothing stored: cert import of a certificate for another key, of a
# malformed DER, of a P-521 certificate, of one over 4096 bytes of DER, of
# two PEM certificates or junk after one, of BER;
# keygen on P-521; a csr whose sanUri / sanDns would add names
# (",DNS:...") or is no URI / host name (the daemon serving on); a
# Bootstrap whose MEF certificate the configured CA does not know; a
# Bootstrap by a device whose certificate names no enrolee.
#   bash test_m2mtokend_cert.sh hsm
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/integration/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mtd_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../../../tests/mef/mef_lib.sh"
m2m_setup "${1:?usage: test_m2mtokend_cert.sh hsm}"
T=$M2M_TMP
PSKGW=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
GW=gw1.example.com
DEV=dev7.example.com
C=$M2MTOKEN_CLI

# --- the MEF: its token, its key, the CA, its certificate ---------------------
mef_token
mef_tls_key
for ca in test-ca other-ca; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$T/$ca.key" -out "$T/$ca.pem" -subj "/CN=$ca" -days 2 \
	    2>/dev/null || m2m_fail "the CA $ca"
done
# sign CSR OUT [EXT]: the test CA issues OUT for CSR
sign()
{
	printf '%s\n' basicConstraints=CA:FALSE keyUsage=digitalSignature \
	    ${3:+"$3"} >"$T/ext.cnf"
	openssl x509 -req -in "$1" -CA "$T/test-ca.pem" -CAkey "$T/test-ca.key" \
	    -days 2 -extfile "$T/ext.cnf" -out "$2" 2>/dev/null ||
	    m2m_fail "the CA cannot sign $1"
}
mef_csr
sign "$T/mef.csr" "$T/mef-cert.pem" "subjectAltName=DNS:$FQDN"
mef_conf 5 san-dns
mef enrolee add --cert-id "$DEV" --enrolee-id \
    /in-cse.example.com/CAE07 --target "$GW" --lifetime 3600 \
    --e2e-salt-hex 0102030405060708 >/dev/null || m2m_fail "enrolee add"
mef_target "$GW" "$PSKGW"
mef_start
echo "ok: m2m-mef: PSK on $PORT, certificates on $CPORT (key in its token)"

# --- the device and gateway daemons ------------------------------------------
mtd_token dev
mtd_token gw
"$MTD_KEYTOOL" import gw kpm "$GW" "$PSKGW" || m2m_fail "import gw psk"
# daemon WHO [CA]: (re)start the daemon WHO; the device's [enrolee] ca = CA
daemon()
{
	if [ "$1" = dev ]; then
		mtd_mef_daemon dev "$(printf '[enrolee]\ncert_key = dev-tls\nca = %s' "$2")"
	else
		mtd_mef_daemon "$1" "$(printf '[target]\nid = %s' "$GW")"
	fi
}
daemon dev "$T/test-ca.pem"
daemon gw
certs() {
	m2m_ext m2m_p11tool --token-label dev --login --pin "$M2MTOKEN_USER_PIN" \
	    --list-objects --type cert 2>/dev/null | grep -c 'Certificate Object' || true
}
kes() { sqlite3 "$T/registry.db" 'SELECT count(*) FROM kes'; }

# --- keygen, csr, the CA, cert import -----------------------------------------
out=$($C -s "$T/dev.sock" keygen --key dev-tls --id 07) ||
    m2m_fail "keygen: $out"
m2m_expect_contains "$out" "id:    07"
m2m_expect_contains "$out" "curve: P-256"
m2m_expect_contains "$out" "-----BEGIN PUBLIC KEY-----"
sed -n '/BEGIN PUBLIC/,/END PUBLIC/p' <<<"$out" >"$T/dev-pub.pem"
out=$($C -s "$T/dev.sock" keygen --key dev-tls 2>&1) && m2m_fail "keygen twice"
m2m_expect_contains "$out" "an EC key with this label exists already: nothing made"
out=$($C -s "$T/dev.sock" keygen --key dev-521 --curve P-521 2>&1) &&
    m2m_fail "keygen P-521"
m2m_expect_contains "$out" "parameter curve: P-256 or P-384 (the curves the token supports)"
echo "ok: m2mtoken keygen: a P-256 key pair in the token; a second, or P-521, refused"
$C -s "$T/dev.sock" csr --key dev-tls --subject "/CN=$DEV/O=Example" \
    --san-dns "$DEV" >"$T/dev.csr" || m2m_fail "csr"
out=$(openssl req -in "$T/dev.csr" -verify -noout -text 2>&1) ||
    m2m_fail "the CSR does not verify: $out"
m2m_expect_contains "$out" "verify OK"
m2m_expect_contains "$out" "Subject: CN = $DEV, O = Example"
m2m_expect_contains "$out" "DNS:$DEV"
m2m_expect_contains "$out" "ecdsa-with-SHA256"
[ "$(openssl req -in "$T/dev.csr" -pubkey -noout)" = "$(cat "$T/dev-pub.pem")" ] ||
    m2m_fail "the CSR's public key is not the token key's"
echo "ok: m2mtoken csr: PKCS#10 signed by the token key, verify OK"
# subjectAltName: one URI and one DNS name, each exactly as given; a value
# that would add a name of its own (a ',' then TYPE:, as OpenSSL's
# configuration syntax reads it; "dirName:" made the daemon segfault) or is
# not ASCII is refused with the parameter's name, and the daemon serves on
san=("--san-uri" "urn:m2m:dev7" "--san-dns" "$DEV")
$C -s "$T/dev.sock" csr --key dev-tls --subject "/CN=$DEV" "${san[@]}" \
    >"$T/san.csr" || m2m_fail "csr with sanUri and sanDns"
out=$(openssl req -in "$T/san.csr" -verify -noout -text 2>&1) ||
    m2m_fail "the CSR with two names does not verify: $out"
names=$(sed -n '/X509v3 Subject Alternative Name/{n;s/^ *//;p}' <<<"$out")
[ "$names" = "URI:urn:m2m:dev7, DNS:$DEV" ] ||
    m2m_fail "the CSR's subjectAltName is '$names', not one URI and one DNS name"
bad()
{
	local what=$1 text=$2

	shift 2
	out=$($C -s "$T/dev.sock" csr --key dev-tls --subject "/CN=$DEV" \
	    "$@" 2>&1) && m2m_fail "csr with $what accepted: $out"
	m2m_expect_contains "$out" "InvalidParameter"
	m2m_expect_contains "$out" "$text"
	kill -0 "$(cat "$T/dev.pid")" 2>/dev/null ||
	    m2m_fail "m2mtokend died on a csr with $what: $(tail -5 "$T/dev.log")"
}
uri_msg="parameter sanUri: an absolute URI (scheme:rest) of RFC 3986 characters, no space or ',' (write %2C)"
dns_msg="parameter sanDns: a host name (ASCII letters, digits, '-' in '.'-joined labels of 1..63 bytes, at most 253 bytes)"
bad "a URI adding DNS and IP names" "$uri_msg" \
    --san-uri "urn:dev1,DNS:mef.example.com,IP:10.0.0.1"
bad "a DNS name adding a dirName" "$dns_msg" --san-dns "x,dirName:s"
bad "a DNS name adding a URI" "$dns_msg" --san-dns "$DEV,URI:urn:x"
bad "a DNS name with a space" "$dns_msg" --san-dns "dev7 example.com"
bad "a non-ASCII DNS name" "$dns_msg" --san-dns "dév7.example.com"
bad "a DNS label of 64 bytes" "$dns_msg" \
    --san-dns "$(printf 'a%.0s' {1..64}).example.com"
bad "a DNS wildcard" "$dns_msg" --san-dns "*.example.com"
bad "a non-ASCII URI" "$uri_msg" --san-uri "urn:dév7"
bad "a URI with a space" "$uri_msg" --san-uri "urn:dev 7"
bad "a relative URI" "$uri_msg" --san-uri "dev7/x"
bad "a URI with a bad %-escape" "$uri_msg" --san-uri "urn:dev%G7"
! grep -q -e "dirName" -e "10.0.0.1" "$T/dev.log" ||
    m2m_fail "the daemon's log repeats a refused value"
$C -s "$T/dev.sock" csr --key dev-tls --subject "/CN=$DEV" "${san[@]}" \
    >"$T/san2.csr" || m2m_fail "csr after the refusals"
[ "$(openssl req -in "$T/san2.csr" -noout -text |
    sed -n '/X509v3 Subject Alternative Name/{n;s/^ *//;p}')" = "$names" ] ||
    m2m_fail "the CSR after the refusals has other names"
echo "ok: csr subjectAltName: one URI and one DNS name as given; ',TYPE:' injection, non-ASCII, non-LDH, relative URIs refused by name; the daemon serves on"
sign "$T/dev.csr" "$T/dev.pem" "subjectAltName=DNS:$DEV"

# refusals first: each stores nothing
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/other.key" 2>/dev/null
openssl req -new -key "$T/other.key" -subj "/CN=$DEV" -out "$T/other.csr"
sign "$T/other.csr" "$T/other.pem"
out=$($C -s "$T/dev.sock" cert import "$T/other.pem" --key dev-tls 2>&1) &&
    m2m_fail "a certificate for another key imported"
m2m_expect_contains "$out" "the certificate's public key is not the token key's: nothing stored"
head -c 200 "$T/dev.pem" | openssl base64 -d 2>/dev/null >"$T/bad.der" || true
printf '\x30\x82\x01\x00\x01\x02' >>"$T/bad.der"
out=$($C -s "$T/dev.sock" cert import "$T/bad.der" --key dev-tls 2>&1) &&
    m2m_fail "a malformed DER imported"
m2m_expect_contains "$out" "parameter certificate: not one X.509 certificate (DER or PEM): nothing stored"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 \
    -out "$T/p521.key" 2>/dev/null
openssl req -new -key "$T/p521.key" -subj "/CN=$DEV" -out "$T/p521.csr"
sign "$T/p521.csr" "$T/p521.pem"
out=$($C -s "$T/dev.sock" cert import "$T/p521.pem" --key dev-tls 2>&1) &&
    m2m_fail "a P-521 certificate imported"
m2m_expect_contains "$out" "the certificate's key is on curve secp521r1, not P-256 or P-384 (the curves the token supports): nothing stored"
# for the token key, but more DER than the token stores (4096 bytes, the
# module's CKA_VALUE limit): its own message, not "is in the token already"
sign "$T/dev.csr" "$T/big.pem" "nsComment=$(printf 'x%.0s' {1..5000})"
n=$(openssl x509 -in "$T/big.pem" -outform DER | wc -c)
[ "$n" -gt 4096 ] || m2m_fail "the big certificate is $n bytes"
out=$($C -s "$T/dev.sock" cert import "$T/big.pem" --key dev-tls 2>&1) &&
    m2m_fail "a certificate of $n bytes imported"
m2m_expect_contains "$out" "InvalidParameter"
m2m_expect_contains "$out" "parameter certificate: $n bytes of DER, more than the token stores (4096): nothing stored"
# the right certificate, but two of them, junk after the PEM, or BER (a
# long-form length d2i_X509 takes, "30 83 00 LL LL"): we store the bytes
# given, so only DER, and one certificate
cat "$T/dev.pem" "$T/dev.pem" >"$T/two.pem"
out=$($C -s "$T/dev.sock" cert import "$T/two.pem" --key dev-tls 2>&1) &&
    m2m_fail "two PEM certificates imported"
m2m_expect_contains "$out" "parameter certificate: more than white space after the END CERTIFICATE line (one certificate only): nothing stored"
{ cat "$T/dev.pem"; echo "# not white space"; } >"$T/junk.pem"
out=$($C -s "$T/dev.sock" cert import "$T/junk.pem" --key dev-tls 2>&1) &&
    m2m_fail "a PEM certificate with junk after it imported"
m2m_expect_contains "$out" "parameter certificate: more than white space after the END CERTIFICATE line (one certificate only): nothing stored"
openssl x509 -in "$T/dev.pem" -outform DER -out "$T/dev.der"
[ "$(od -An -tx1 -N2 "$T/dev.der" | tr -d ' ')" = 3082 ] ||
    m2m_fail "the certificate's DER does not begin 30 82"
{ printf '\x30\x83\x00'; tail -c +3 "$T/dev.der"; } >"$T/ber.der"
out=$($C -s "$T/dev.sock" cert import "$T/ber.der" --key dev-tls 2>&1) &&
    m2m_fail "a BER certificate imported"
m2m_expect_contains "$out" "parameter certificate: not DER (a BER encoding, such as a long-form length, that re-encodes to other bytes): nothing stored"
[ "$(certs)" -eq 0 ] || m2m_fail "a refused import stored a certificate"
echo "ok: cert import refuses another key's certificate, a malformed DER, P-521, a DER over 4096 bytes, two PEM certificates, junk after the PEM, BER; nothing stored"
out=$($C -s "$T/dev.sock" cert import "$T/dev.der" --key dev-tls) ||
    m2m_fail "cert import: $out"
m2m_expect_contains "$out" "id:  07"
[ "$(certs)" -eq 1 ] || m2m_fail "cert import: $(certs) certificates"
echo "ok: m2mtoken cert import: the CA's certificate stored next to its key (CKA_ID 07)"
out=$($C -s "$T/dev.sock" cert import "$T/dev.der" --key dev-tls 2>&1) &&
    m2m_fail "the same certificate imported twice"
m2m_expect_contains "$out" "a certificate with this label is in the token already: nothing stored"
out=$($C -s "$T/dev.sock" csr --key no-such-key --subject "/CN=$DEV" 2>&1) &&
    m2m_fail "a CSR for a key that does not exist"
m2m_expect_contains "$out" "no EC key pair with this label in the token"
[ "$(certs)" -eq 1 ] || m2m_fail "a refused import stored a certificate"
echo "ok: a second cert import and a CSR for a missing key refused, with details that repeat nothing the caller sent"

# --- the bootstrap ---------------------------------------------------------
t0=$(date +%s%N)
out=$($C -s "$T/dev.sock" --json bootstrap --target "$GW" \
    --framework certificate) || { tail "$T/mef.log" "$T/dev.log";
	m2m_fail "bootstrap with certificates: $out"; }
KEID=$(mtd_json keId <<<"$out")
SALT=$(mtd_json e2e.salt <<<"$out")
[ "$(mtd_json enroleeId <<<"$out")" = /in-cse.example.com/CAE07 ] ||
    m2m_fail "EnroleeID: $out"
[ "$(sqlite3 "$T/registry.db" "SELECT kpm_id FROM kes WHERE ke_id = '$KEID'")" = "$DEV" ] ||
    m2m_fail "the MEF has no KeId $KEID for $DEV"
grep -q "event=bootstrap who=\"$DEV\".*outcome=ok keid=\"$KEID\"" "$T/mef.log" ||
    m2m_fail "the MEF's log has no bootstrap of $DEV with $KEID"
echo "ok: bootstrap --framework certificate: KeId $KEID on both sides ($(( ($(date +%s%N) - t0) / 1000000 )) ms, the CLI call end to end)"
out=$($C -s "$T/gw.sock" --json fetch-credentials --key "$KEID") ||
    m2m_fail "fetch: $out"
$C -s "$T/dev.sock" derive-kpsa --key "$KEID" --target "$GW" >/dev/null ||
    m2m_fail "device derive-kpsa"
E1=$($C -s "$T/dev.sock" --json provision-e2e --key "$KEID" --role kpsa --salt "$SALT" | mtd_json e2eKeyId)
E2=$($C -s "$T/gw.sock" --json provision-e2e --key "$KEID" --role kpsa --salt "$SALT" | mtd_json e2eKeyId)
mic=$($C -s "$T/dev.sock" mic --key "$E1" --data "hello gateway")
$C -s "$T/gw.sock" verify-mic --key "$E2" --data "hello gateway" \
    --mic "$mic" >/dev/null ||
    m2m_fail "the device's MIC (from its Ke) does not verify on the gateway (from the MEF's Ke)"
echo "ok: the same Ke on both sides: HMAC-SHA-256 MIC from the device's Kpsa verifies with the MEF-delivered Kpsa"

# --- the caller ACL checks the key a Bootstrap uses ---------------------------
# kpm_id and cert_key both set; uid nobody may bootstrap with dev-tls only:
# a certificate bootstrap goes through, a PSK one (the KpmId) is refused
"$MTD_KEYTOOL" import dev kpm kpm-dev7 "$PSKGW" || m2m_fail "import dev kpm"
n=$(kes)
mtd_mef_daemon dev "$(printf '[enrolee]\nkpm_id = kpm-dev7\ncert_key = dev-tls\nca = %s\n[caller boot]\nuid = %s\nmethods = io.m2mtoken.Bootstrap\nkeys = dev-tls' \
    "$T/test-ca.pem" "$(id -u nobody)")"
mtd_nobody_setup
chmod 666 "$T/dev.sock"
out=$(mtd_as_nobody "$T/dev.sock" --json bootstrap --target "$GW" \
    --framework certificate 2>&1) ||
    m2m_fail "nobody, allowed dev-tls: certificate bootstrap: $out"
[ "$(kes)" -eq $((n + 1)) ] || m2m_fail "no new KeId: $out"
mtd_nobody_denied "$T/dev.sock" "$T/dev.log" \
    "io.m2mtoken.Bootstrap key kpm-dev7: key not allowed (rule boot)" \
    bootstrap --target "$GW"
[ "$(kes)" -eq $((n + 1)) ] || m2m_fail "a refused bootstrap stored a KeId"
echo "ok: Bootstrap's ACL key is the key it uses: dev-tls allows --framework certificate, not PSK (PermissionDenied, a log line)"

# --- a MEF the configured CA does not know: nothing stored --------------------
n=$(kes)
daemon dev "$T/other-ca.pem"
out=$($C -s "$T/dev.sock" bootstrap --target "$GW" --framework certificate 2>&1) &&
    m2m_fail "bootstrap against an unknown MEF CA"
m2m_expect_contains "$out" "MefUnreachable"
m2m_expect_contains "$out" "a certificate refused, or SNI refused): certificate verify failed"
grep -q "does not verify: self-signed certificate in certificate chain" "$T/dev.log" ||
    m2m_fail "no verify error in the device's log: $(cat "$T/dev.log")"
[ "$(kes)" -eq "$n" ] || m2m_fail "a refused bootstrap stored a KeId"
echo "ok: a MEF certificate of a CA [enrolee] ca does not hold: handshake refused, nothing stored"
# the certificate framework unconfigured: PSK asked for, none configured
out=$($C -s "$T/dev.sock" bootstrap --target "$GW" 2>&1) &&
    m2m_fail "PSK bootstrap without kpm_id"
m2m_expect_contains "$out" "Bootstrap needs [enrolee] kpm_id and [mef] host, fqdn"
out=$($C -s "$T/dev.sock" bootstrap --target "$GW" --framework x509 2>&1) &&
    m2m_fail "framework x509 accepted"
m2m_expect_contains "$out" 'parameter framework: "psk" or "certificate"'
m2m_stop "$(cat "$T/dev.pid")"
mef_stop
! grep -q -e "Sanitizer" -e "runtime error" "$T/dev.log" "$T/mef.log" ||
    m2m_fail "a sanitizer report: $(grep -h -A5 Sanitizer "$T/dev.log" "$T/mef.log")"
echo "ok: hsm: keygen, csr, cert import and the certificate-based bootstrap with m2m-mef"
