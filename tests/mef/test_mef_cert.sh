#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's certificate listener ([cert]; TS-0003 8.3.2.2) on SoftHSM2: the
# MEF's EC key made in its token (pkcs11-tool), its certificate issued by a
# test CA made here with OpenSSL; enrolees are openssl s_client with key
# files (the peer here is not under test).  A bootstrap over TLS 1.2
# ECDHE-ECDSA with mutual authentication gives KeId = hex(EKM[0..15])@FQDN
# of s_client's export, and the Kpsa a PSK target then fetches is
# HMAC-SHA-256 of that exported Ke.  Refused, each with its exact error and
# nothing stored: no client certificate, a certificate of an unknown CA, an
# expired and a not-yet-valid one, a revoked one ([cert] crl), one whose
# key is not the one it is presented with, a certificate naming no enrolee, one naming a PSK
# enrolee, an enrolee of the certificate framework over PSK, and a fetch
# over the certificate listener.
#   bash test_mef_cert.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_cert.sh hsm}"

T=$M2M_TMP
KPSA_LABEL="oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"

mef_token
mef_tls_key

# --- the test CA, the MEF's certificate (its CSR signed by the token) -------
mef_ca test-ca
mef_ca other-ca
NOW_M1=$MEF_NOW_M1
NOW_P1=$MEF_NOW_P1
mef_csr
mef_sign test-ca "$T/mef.csr" "$T/mef-cert.pem" "$NOW_M1" "$NOW_P1" \
    "subjectAltName=DNS:$FQDN"
mef_enrolee_csr dev-cert-1 k1
mef_sign test-ca "$T/dev-cert-1.csr" "$T/dev1.pem" "$NOW_M1" "$NOW_P1"
mef_sign other-ca "$T/dev-cert-1.csr" "$T/dev1-other.pem" "$NOW_M1" "$NOW_P1"
mef_sign test-ca "$T/dev-cert-1.csr" "$T/dev1-expired.pem" 20200101000000Z \
    20200201000000Z
mef_sign test-ca "$T/dev-cert-1.csr" "$T/dev1-future.pem" 20400101000000Z \
    20400201000000Z
mef_enrolee_csr dev-unknown k2
mef_sign test-ca "$T/dev-unknown.csr" "$T/unknown.pem" "$NOW_M1" "$NOW_P1"
mef_enrolee_csr kpm-dev1 k3
mef_sign test-ca "$T/kpm-dev1.csr" "$T/pskname.pem" "$NOW_M1" "$NOW_P1"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$T/wrong.key" 2>/dev/null
ok "test CA; the MEF's certificate for its token key, enrolee certificates"

mef_conf 2 cn
# [cert] is all of port, key, cert and ca, or none; map is one of three
grep -v '^ca = ' "$T/mef.conf" >"$T/half.conf"
out=$("$MEF" -c "$T/half.conf" enrolee list 2>&1) && m2m_fail "[cert] without ca"
m2m_expect_contains "$out" "the certificate listener needs [cert] port, key, cert and ca"
sed 's/^map = cn$/map = email/' "$T/mef.conf" >"$T/half.conf"
out=$("$MEF" -c "$T/half.conf" enrolee list 2>&1) && m2m_fail "map = email"
m2m_expect_contains "$out" "bad value for [cert] map"
ok "[cert]: a missing ca, an unknown map refused at start"
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
mef enrolee add --kpm-id kpm-dev1 --enrolee-id /in-cse.example.com/CAE01 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add (PSK)"
out=$(mef enrolee add --cert-id dev-cert-1 --enrolee-id \
    /in-cse.example.com/CAE07 --target "$GW1" --lifetime 3600) ||
    m2m_fail "enrolee add --cert-id: $out"
m2m_expect_contains "$out" "enrolee dev-cert-1 added"
out=$(mef enrolee add --cert-id dev-x --enrolee-id x --target "$GW1" \
    --lifetime 5 --kpm-file "$T/kpm1.hex" 2>&1) &&
    m2m_fail "--cert-id with --kpm-file accepted"
m2m_expect_contains "$out" "usage: m2m-mef"
mef_target "$GW1" "$PSK_GW1"
m2m_expect_contains "$(mef enrolee list)" \
    "dev-cert-1	EnroleeID=/in-cse.example.com/CAE07	lifetime=3600	hash=sha256	salt=-	targets=$GW1	framework=certificate"
ok "enrolee add --cert-id: a certificate enrolee, no Kpm"

mef_start

# --- a bootstrap with certificates -------------------------------------------
post_file "$T/boot" "{\"Targets\": [\"$GW1\"]}"
out=$(mef_creq "$T/dev1.pem" "$T/k1.key" "$T/boot")
[ "$(status_of "$out")" = 200 ] && [ "$(rsc_of "$out")" = 2001 ] || {
	printf '%s\n' "$out" >&2; m2m_fail "certificate bootstrap failed"; }
m2m_expect_contains "$out" "Cipher is ECDHE-ECDSA-AES128-SHA256"
m2m_expect_contains "$out" "Verification: OK"
m2m_expect_contains "$out" "Extended master secret: yes"
ekm=$(ekm_of "$out")
[ ${#ekm} -eq 96 ] || m2m_fail "no 48-byte export from s_client: $out"
body=$(body_of "$out")
keid=$(jq -r .KeId <<<"$body")
[ "$keid" = "${ekm:0:32}@$FQDN" ] ||
    m2m_fail "KeId $keid is not hex(EKM[0..15])@$FQDN (EKM $ekm)"
[ "$(jq -r .EnroleeID <<<"$body")" = /in-cse.example.com/CAE07 ] ||
    m2m_fail "EnroleeID: $body"
KE=${ekm:32:64}
[ "$(kes)" -eq 1 ] || m2m_fail "$(kes) KeIds after one bootstrap"
ok "bootstrap over TLS 1.2 ECDHE-ECDSA, mutual: KeId = hex(EKM[0..15])@FQDN"
# the [profile] GCM suite
out=$(mef_creq "$T/dev1.pem" "$T/k1.key" "$T/boot" ECDHE-ECDSA-AES128-GCM-SHA256)
[ "$(status_of "$out")" = 200 ] || { printf '%s\n' "$out" >&2;
	m2m_fail "bootstrap with ECDHE-ECDSA-AES128-GCM-SHA256"; }
[ "$(kes)" -eq 2 ] || m2m_fail "$(kes) KeIds after two bootstraps"
ok "bootstrap over ECDHE-ECDSA-AES128-GCM-SHA256"

# the Ke is the same on both sides: the Kpsa a PSK target fetches
printf 'GET /fetchCredentials/%s HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: %s\r\nConnection: close\r\n\r\n' \
    "$keid" "$FQDN" "$GW1" >"$T/f1"
out=$(timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
    -servername "$FQDN" -psk_identity "$GW1" -psk "$PSK_GW1" -ign_eof \
    -nocommands <"$T/f1" 2>&1 || true)
[ "$(status_of "$out")" = 200 ] || { printf '%s\n' "$out" >&2;
	m2m_fail "fetchCredentials of the certificate KeId"; }
cred=$(b64hex "$(jq -r .Credential <<<"$(body_of "$out")")")
want=$(hmac "$KE" "$KPSA_LABEL$GW1")
[ "$cred" = "$want" ] || m2m_fail "Kpsa $cred != HMAC(exported Ke) $want"
ok "the MEF's Ke is s_client's export: Kpsa = HMAC-SHA-256(Ke, label||target)"

# --- refusals: the handshake fails, nothing stored --------------------------
n_kes=$(kes)
n_obj=$(mef_ke_objects)
mef_refused "no client certificate" \
    'outcome=refused reason="handshake failure"' "" ""
mef_refused "a certificate of an unknown CA" \
    "does not verify: unable to get local issuer certificate" \
    "$T/dev1-other.pem" "$T/k1.key"
mef_refused "an expired certificate" \
    "does not verify: certificate has expired" \
    "$T/dev1-expired.pem" "$T/k1.key"
mef_refused "a not-yet-valid certificate" \
    "does not verify: certificate is not yet valid" \
    "$T/dev1-future.pem" "$T/k1.key"
out=$(mef_creq "$T/dev1.pem" "$T/wrong.key" "$T/boot")
m2m_expect_contains "$out" "key values mismatch"
[ -z "$(status_of "$out")" ] || m2m_fail "a wrong key got an answer"
ok "a certificate with another key: s_client cannot even present it"

# --- refusals in HTTP ---------------------------------------------------------
out=$(mef_creq "$T/unknown.pem" "$T/k2.key" "$T/boot")
expect "$out" 403 4103 "the TLS identity is not an enrolee"
out=$(mef_creq "$T/pskname.pem" "$T/k3.key" "$T/boot")
expect "$out" 403 4103 "the TLS identity is not an enrolee"
printf 'GET /fetchCredentials/%s HTTP/1.1\r\nHost: %s\r\nX-M2M-Origin: dev-cert-1\r\nConnection: close\r\n\r\n' \
    "$keid" "$FQDN" >"$T/f2"
out=$(mef_creq "$T/dev1.pem" "$T/k1.key" "$T/f2")
expect "$out" 403 4103 "the TLS identity is not an enrolment target"
[ "$(kes)" -eq "$n_kes" ] && [ "$(mef_ke_objects)" -eq "$n_obj" ] ||
    m2m_fail "an HTTP refusal stored something"
ok "a certificate naming no enrolee, or a PSK enrolee; a fetch: 403, nothing stored"
# a certificate enrolee has no Kpm: over PSK it has nothing to shake hands with
out=$(timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
    -servername "$FQDN" -psk_identity dev-cert-1 -psk "$KPM1" -ign_eof \
    -nocommands <"$T/boot" 2>&1 || true)
[ -z "$(status_of "$out")" ] || m2m_fail "dev-cert-1 over PSK answered"
grep -q "unknown PSK identity 'dev-cert-1'" "$T/mef.log" ||
    m2m_fail "no log line for dev-cert-1 over PSK"
ok "the certificate enrolee over PSK: handshake refused"
# [cert] crl: a revoked certificate fails the handshake, others do not
mef_stop
mef_revoke test-ca "$T/dev1.pem"
mef_crl test-ca "$T/test-ca.crl"
printf 'crl = %s\n' "$T/test-ca.crl" >>"$T/mef.conf"
mef_start
mef_refused "a revoked certificate ([cert] crl)" \
    "does not verify: certificate revoked" "$T/dev1.pem" "$T/k1.key"
out=$(mef_creq "$T/unknown.pem" "$T/k2.key" "$T/boot")
expect "$out" 403 4103 "the TLS identity is not an enrolee"
ok "[cert] crl: a certificate not revoked still shakes hands"
# a CA certificate the trusted CA issued, naming an enrolee: a CA, not a
# device (OpenSSL's client purpose lets it pass; verify_cb refuses it)
printf '%s\n' "[e]" "basicConstraints=critical,CA:TRUE" \
    "keyUsage=digitalSignature,keyCertSign" >"$T/ext.ca"
mef_enrolee_csr dev-cert-1 k1
openssl ca -batch -config "$T/test-ca.cnf" -cert "$T/test-ca.pem" \
    -keyfile "$T/test-ca.key" -in "$T/dev-cert-1.csr" -out "$T/dev1-ca.pem" \
    -startdate "$NOW_M1" -enddate "$NOW_P1" -extfile "$T/ext.ca" \
    -extensions e -notext >/dev/null 2>&1 || m2m_fail "cannot sign dev1-ca"
mef_refused "a CA certificate as the enrolee's" \
    "does not verify: unsuitable certificate purpose" "$T/dev1-ca.pem" \
    "$T/k1.key"
mef_stop
sed -i '/^crl = /d' "$T/mef.conf"
# the enrolee's certificate in the SAN URI instead ([cert] map = san-uri)
sed -i 's/^map = cn$/map = san-uri/' "$T/mef.conf"
mef_enrolee_csr dev-uri k1
mef_sign test-ca "$T/dev-uri.csr" "$T/dev-uri.pem" "$NOW_M1" "$NOW_P1" \
    "subjectAltName=URI:dev-cert-1"
mef_start
out=$(mef_creq "$T/dev-uri.pem" "$T/k1.key" "$T/boot")
[ "$(status_of "$out")" = 200 ] || { printf '%s\n' "$out" >&2;
	m2m_fail "map = san-uri"; }
out=$(mef_creq "$T/dev1.pem" "$T/k1.key" "$T/boot")
expect "$out" 403 4103 "the TLS identity is not an enrolee"
ok "map = san-uri: the SAN URI names the enrolee, a CN alone does not"
mef_stop
! grep -q -i -e "$KE" -e "$KPM1" -e "$PSK_GW1" "$T/mef.log" ||
    m2m_fail "a key appears in the MEF's log"
ok "no key in the MEF's log"
! grep -q -e "Sanitizer" -e "runtime error" "$T/mef.log" ||
    m2m_fail "a sanitizer report in the MEF's log: $(grep -A5 Sanitizer "$T/mef.log")"
ok "m2m-mef stopped on SIGTERM without a sanitizer report (leaks included in the ASan build)"
