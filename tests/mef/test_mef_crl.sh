#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's certificate listener and its CRLs ([cert] crl, crl_check), on SoftHSM2 with the set-up of test_mef_cert.sh (mef_lib.sh):
# test-ca (the root [cert] ca names) issues the MEF's certificate, the
# enrolees dev-cert-1 and dev-cert-2, and the intermediate CA int-ca, which
# issues the enrolee dev-int-1 (presented with int-ca by s_client).
#   crl_check = chain: int-ca revoked in test-ca's CRL refuses dev-int-1
#   (leaf lets it through); a file without int-ca's CRL, or without
#   test-ca's, refuses it with "unable to get certificate CRL".
#   bash test_mef_crl.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_crl.sh hsm}"

T=$M2M_TMP
KPM1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PSK_GW1=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
GW1=gw1.example.com

ok()
{
	echo "ok: $*"
}

# crl_conf CRLFILE [CHECK]: [cert] crl = CRLFILE (and crl_check = CHECK)
crl_conf()
{
	sed -i -e '/^crl = /d' -e '/^crl_check = /d' "$T/mef.conf"
	printf 'crl = %s\n' "$1" >>"$T/mef.conf"
	[ -z "${2:-}" ] || printf 'crl_check = %s\n' "$2" >>"$T/mef.conf"
}

# restart CRLFILE [CHECK]: m2m-mef again with that [cert] crl (crl_check)
restart()
{
	mef_stop
	crl_conf "$@"
	mef_start
}

mef_token
mef_tls_key

# --- the CAs, the MEF's certificate, the enrolees ----------------------------
mef_ca test-ca
mef_ca int-ca test-ca
mef_csr
mef_sign test-ca "$T/mef.csr" "$T/mef-cert.pem" "$MEF_NOW_M1" \
    "$MEF_NOW_P1" "subjectAltName=DNS:$FQDN"
mef_enrolee_csr dev-cert-1 k1
mef_sign test-ca "$T/dev-cert-1.csr" "$T/dev1.pem" "$MEF_NOW_M1" "$MEF_NOW_P1"
mef_enrolee_csr dev-cert-2 k2
mef_sign test-ca "$T/dev-cert-2.csr" "$T/dev2.pem" "$MEF_NOW_M1" "$MEF_NOW_P1"
mef_enrolee_csr dev-int-1 k3
mef_sign int-ca "$T/dev-int-1.csr" "$T/devi.pem" "$MEF_NOW_M1" "$MEF_NOW_P1"
INT=$T/int-ca.pem
mef_crl test-ca "$T/test-ca-0.crl"	# nothing revoked
mef_crl int-ca "$T/int-ca.crl"		# nothing revoked
cat "$T/test-ca-0.crl" "$T/int-ca.crl" >"$T/both-0.crl"
ok "test-ca -> int-ca -> dev-int-1; test-ca -> dev-cert-1, dev-cert-2"

mef_conf 10 cn
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
for id in dev-cert-1 dev-cert-2 dev-int-1; do
	mef enrolee add --cert-id "$id" --enrolee-id "/in-cse.example.com/$id" \
	    --target "$GW1" --lifetime 3600 >/dev/null ||
	    m2m_fail "enrolee add --cert-id $id"
done
mef_target "$GW1" "$PSK_GW1"
post_file "$T/boot" "{\"Targets\": [\"$GW1\"]}"

# --- [cert] crl_check: the configuration ------------------------------------
cp "$T/mef.conf" "$T/base.conf"
printf 'crl_check = chain\n' >>"$T/mef.conf"
out=$("$MEF" -c "$T/mef.conf" enrolee list 2>&1) &&
    m2m_fail "crl_check without crl accepted"
m2m_expect_contains "$out" "[cert] crl_check needs [cert] crl"
crl_conf "$T/both-0.crl" all
out=$("$MEF" -c "$T/mef.conf" enrolee list 2>&1) &&
    m2m_fail "crl_check = all accepted"
m2m_expect_contains "$out" "bad value for [cert] crl_check"
cp "$T/base.conf" "$T/mef.conf"
ok "[cert] crl_check without crl, or neither leaf nor chain: refused at start"

# --- crl_check = chain ---------------------------------------------------------
crl_conf "$T/both-0.crl" chain
mef_start
mef_booted "chain, CRLs of test-ca and int-ca, none revoked: dev-int-1" \
    "$T/devi.pem" "$T/k3.key" "$INT"
mef_booted "chain: dev-cert-1" "$T/dev1.pem" "$T/k1.key"
# int-ca's CRL missing: dev-int-1 has no CRL of its issuer
restart "$T/test-ca-0.crl" chain
mef_refused "chain, no CRL of int-ca: dev-int-1" \
    "'/CN=dev-int-1' does not verify: unable to get certificate CRL" \
    "$T/devi.pem" "$T/k3.key" "$INT"
mef_booted "chain, no CRL of int-ca: dev-cert-1 (test-ca's is there)" \
    "$T/dev1.pem" "$T/k1.key"
# test-ca's CRL missing: int-ca itself has none (leaf would not ask)
restart "$T/int-ca.crl" chain
mef_refused "chain, no CRL of test-ca: dev-int-1" \
    "'/CN=int-ca' does not verify: unable to get certificate CRL" \
    "$T/devi.pem" "$T/k3.key" "$INT"
restart "$T/int-ca.crl" leaf
mef_booted "leaf, no CRL of test-ca: dev-int-1 (its own issuer's is there)" \
    "$T/devi.pem" "$T/k3.key" "$INT"
# int-ca revoked by test-ca
mef_revoke test-ca "$INT"
mef_crl test-ca "$T/test-ca-1.crl"
cat "$T/test-ca-1.crl" "$T/int-ca.crl" >"$T/both-1.crl"
restart "$T/both-1.crl" chain
mef_refused "chain, int-ca revoked: dev-int-1" \
    "'/CN=int-ca' does not verify: certificate revoked" \
    "$T/devi.pem" "$T/k3.key" "$INT"
mef_booted "chain, int-ca revoked: dev-cert-1" "$T/dev1.pem" "$T/k1.key"
restart "$T/both-1.crl" leaf
mef_booted "leaf, int-ca revoked: dev-int-1 (only its own certificate checked)" \
    "$T/devi.pem" "$T/k3.key" "$INT"
restart "$T/both-1.crl"
mef_booted "no crl_check (leaf), int-ca revoked: dev-int-1" \
    "$T/devi.pem" "$T/k3.key" "$INT"
ok "[cert] crl_check = chain checks the intermediate CA; leaf does not"

mef_stop

! grep -q -i -e "$KPM1" -e "$PSK_GW1" "$T/mef.log" ||
    m2m_fail "a key appears in the MEF's log"
! grep -q -e "Sanitizer" -e "runtime error" "$T/mef.log" ||
    m2m_fail "a sanitizer report in the MEF's log: $(grep -A5 Sanitizer "$T/mef.log")"
ok "no key, no sanitizer report in the MEF's log"
