#!/usr/bin/env bash
# m2m-label: tool
# PyKCS11 (Debian python3-pykcs11 1.5.12) with EC keys in the module; the
# checks are in pykcs11_ec.py (P-256 and P-384 key pairs, CKM_ECDSA_SHA256,
# CKM_ECDSA_SHA384 and CKM_ECDSA signatures checked with python3-cryptography,
# C_Verify of an OpenSSL-made signature).  This script initialises the token
# (pkcs11-tool), makes the OpenSSL key and signature, and checks the token's
# CKM_ECDSA_SHA256 signature once more with "openssl dgst -verify".
# Backend-agnostic: run as "bash test_pykcs11_ec.sh hsm|tpm".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_pykcs11_ec.sh hsm|tpm}"

SO_PIN=so-87654321
USER_PIN=user-12345678
LABEL=ec-pykcs11
# Debian's interpreter: python3-pykcs11 and python3-cryptography live there
# (a python3 earlier on PATH, e.g. pyenv's, does not see them)
PY=${M2M_PYTHON:-/usr/bin/python3}

ok()
{
	echo "ok: $M2M_BACKEND: $*"
}

m2m_p11tool_token "$LABEL" "$SO_PIN" "$USER_PIN"

head -c 300 /dev/urandom >"$M2M_TMP/data"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$M2M_TMP/ossl.key" 2>/dev/null || m2m_fail "openssl genpkey failed"
openssl pkey -in "$M2M_TMP/ossl.key" -pubout -out "$M2M_TMP/ossl-pub.pem" ||
    m2m_fail "openssl pkey -pubout failed"
openssl dgst -sha256 -sign "$M2M_TMP/ossl.key" -out "$M2M_TMP/ossl-sig.der" \
    "$M2M_TMP/data" || m2m_fail "openssl dgst -sign failed"

"$PY" "$(dirname "${BASH_SOURCE[0]}")/pykcs11_ec.py" "$M2MTOKEN_MODULE" \
    "$LABEL" "$USER_PIN" "$M2M_TMP" | sed "s/^ok: /ok: $M2M_BACKEND: /" ||
    m2m_fail "pykcs11_ec.py failed"

out=$(openssl dgst -sha256 -verify "$M2M_TMP/token-pub.pem" \
    -signature "$M2M_TMP/token-sig.der" "$M2M_TMP/data" 2>&1) ||
    m2m_fail "openssl dgst -verify refuses the token's signature: $out"
m2m_expect_contains "$out" "Verified OK"
printf 'x' >>"$M2M_TMP/data"
if out=$(openssl dgst -sha256 -verify "$M2M_TMP/token-pub.pem" \
    -signature "$M2M_TMP/token-sig.der" "$M2M_TMP/data" 2>&1); then
	m2m_fail "the token's signature verifies over other data: $out"
fi
m2m_expect_contains "$out" "Verification failure"
ok "openssl dgst -sha256 -verify: the token's signature (r||s to DER)"
