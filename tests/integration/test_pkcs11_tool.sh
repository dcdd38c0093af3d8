#!/usr/bin/env bash
# m2m-label: tool
# OpenSC pkcs11-tool (0.23) against the module: slots, mechanisms, the token
# life cycle (--init-token, --init-pin), login, key generation, HMAC-SHA-256
# sign/verify checked against openssl, object listing, a sensitive key whose
# value is refused, and a wrong PIN.  Backend-agnostic: run as
# "bash test_pkcs11_tool.sh hsm|tpm".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_pkcs11_tool.sh hsm|tpm}"

SO_PIN=so-87654321
USER_PIN=user-12345678
LABEL=T

# run TEXT ARGS...: pkcs11-tool ARGS..., which must succeed; output in $out
run()
{
	local what=$1

	shift
	out=$(m2m_p11tool "$@" 2>&1) || {
		printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
		m2m_fail "$what: pkcs11-tool $* failed"
	}
}

# run_fails TEXT ARGS...: pkcs11-tool ARGS..., which must fail
run_fails()
{
	local what=$1

	shift
	if out=$(m2m_p11tool "$@" 2>&1); then
		printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
		m2m_fail "$what: pkcs11-tool $* succeeded, it must not"
	fi
}

ok()
{
	echo "ok: $M2M_BACKEND: $*"
}

# 1. a fresh store offers exactly one slot, uninitialised
run "list slots" --list-slots
m2m_expect_contains "$out" "token state:   uninitialized"
slot=$(printf '%s\n' "$out" | sed -n 's/^Slot [0-9]* (\(0x[0-9a-fA-F]*\)).*/\1/p' |
    head -n 1)
[ -n "$slot" ] || m2m_fail "no slot id in: $out"
ok "--list-slots shows the uninitialised slot $slot"

# 2. mechanisms: the standard ones and the vendor derivations
run "list mechanisms" --slot "$slot" --list-mechanisms
for m in SHA256-HMAC SHA512-HMAC AES-GCM GENERIC-SECRET-KEY-GEN \
    AES-KEY-GEN mechtype-0xCD324D01 mechtype-0xCD324D02 \
    mechtype-0xCD324D03 mechtype-0xCD324D04 mechtype-0xCD324D05 \
    mechtype-0xCD324D06 mechtype-0xCD324D10; do
	m2m_expect_contains "$out" "$m"
done
ok "--list-mechanisms lists HMAC, AES-GCM and the vendor mechanisms"

# 3. token life cycle
run "init token" --slot "$slot" --init-token --label "$LABEL" \
    --so-pin "$SO_PIN"
m2m_expect_contains "$out" "Token successfully initialized"
run "list slots after init" --list-slots
m2m_expect_contains "$out" "token label        : $LABEL"
m2m_expect_contains "$out" "token manufacturer : m2mtoken"
m2m_expect_contains "$out" "token initialized"
m2m_expect_contains "$out" "token state:   uninitialized"	# the next free one
ok "--init-token: token $LABEL, and a new free slot is offered"

TOK=(--token-label "$LABEL")
run "init pin" "${TOK[@]}" --login --login-type so --so-pin "$SO_PIN" \
    --init-pin --pin "$USER_PIN"
m2m_expect_contains "$out" "User PIN successfully initialized"
run "list slots after init-pin" --list-slots
m2m_expect_contains "$out" "PIN initialized"
ok "--init-pin as SO sets the user PIN"

run "login, list (empty)" "${TOK[@]}" --login --pin "$USER_PIN" \
    --list-objects
[[ $out != *"Secret Key Object"* ]] || m2m_fail "new token is not empty: $out"
ok "--login --list-objects on the new token"

# 4. an HMAC key; extractable for this one check only, so that openssl
# can compute the same MAC
run "keygen" "${TOK[@]}" --login --pin "$USER_PIN" --keygen \
    --key-type GENERIC:32 --label hmac-key --id 01 --usage-sign \
    --extractable
m2m_expect_contains "$out" "Key generated"
m2m_expect_contains "$out" "Generic secret length 32"
ok "--keygen --key-type GENERIC:32"

data=$M2M_TMP/data
head -c 64 /dev/urandom >"$data"
run "sign" "${TOK[@]}" --login --pin "$USER_PIN" --sign \
    --mechanism SHA256-HMAC --label hmac-key -i "$data" -o "$M2M_TMP/mac"
[ "$(stat -c %s "$M2M_TMP/mac")" -eq 32 ] ||
    m2m_fail "the HMAC-SHA-256 signature is not 32 bytes"
run "read the key" "${TOK[@]}" --login --pin "$USER_PIN" --read-object \
    --type secrkey --label hmac-key -o "$M2M_TMP/key"
[ "$(stat -c %s "$M2M_TMP/key")" -eq 32 ] ||
    m2m_fail "the key read back is not 32 bytes"
key_hex=$(od -An -v -tx1 "$M2M_TMP/key" | tr -d ' \n')
want=$(openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key_hex" -binary \
    "$data" | od -An -v -tx1 | tr -d ' \n')
got=$(od -An -v -tx1 "$M2M_TMP/mac" | tr -d ' \n')
[ "$got" = "$want" ] ||
    m2m_fail "HMAC mismatch: token $got, openssl $want"
ok "--sign --mechanism SHA256-HMAC equals openssl dgst -mac HMAC"

run "verify" "${TOK[@]}" --login --pin "$USER_PIN" --verify \
    --mechanism SHA256-HMAC --label hmac-key -i "$data" \
    --signature-file "$M2M_TMP/mac"
m2m_expect_contains "$out" "Signature is valid"
printf 'x' >>"$data"
# pkcs11-tool 0.23 reports a bad MAC in its output and still exits 0
out=$(m2m_p11tool "${TOK[@]}" --login --pin "$USER_PIN" --verify \
    --mechanism SHA256-HMAC --label hmac-key -i "$data" \
    --signature-file "$M2M_TMP/mac" 2>&1) || true
m2m_expect_contains "$out" "Invalid signature"
[[ $out != *"Signature is valid"* ]] ||
    m2m_fail "a MAC over modified data was accepted: $out"
ok "--verify accepts the MAC and refuses it on modified data"

# 5. a sensitive key cannot be read.  --list-objects asks for CKA_VALUE of
# every secret key: it gets the value of the extractable one and
# CKR_ATTRIBUTE_SENSITIVE for the other.  (Not --read-object: pkcs11-tool
# exits on that error without C_Finalize; see the note at the end.)
run "keygen sensitive" "${TOK[@]}" --login --pin "$USER_PIN" --keygen \
    --key-type GENERIC:32 --label secret-key --id 02 --usage-sign \
    --sensitive
m2m_expect_contains "$out" "Key generated"
run "list objects" "${TOK[@]}" --login --pin "$USER_PIN" --list-objects
m2m_expect_contains "$out" "label:      hmac-key"
m2m_expect_contains "$out" "label:      secret-key"
m2m_expect_contains "$out" "C_GetAttributeValue(VALUE) failed: rv = CKR_ATTRIBUTE_SENSITIVE"
block=$(printf '%s\n' "$out" | awk '/^Secret Key Object/ { b = "" }
    { b = b $0 "\n" } /label: +secret-key/ { found = 1 }
    found && /^  Access:/ { printf "%s", b; exit }')
[ -n "$block" ] || m2m_fail "no listing of secret-key in: $out"
[[ $block != *"VALUE:"* ]] ||
    m2m_fail "the value of a sensitive key was listed: $block"
[[ $block == *"Access:"*"sensitive"* ]] ||
    m2m_fail "secret-key is not listed as sensitive: $block"
ok "--list-objects shows both labels; the sensitive key's value is refused"

# 6. a wrong PIN.  Keep this last: pkcs11-tool exits on the failed C_Login
# without C_Finalize, and with a TPM reached without a resource manager
# (swtpm here) whatever the module had loaded stays loaded.
run_fails "wrong PIN" "${TOK[@]}" --login --pin wrong-pin-0000 \
    --list-objects
m2m_expect_contains "$out" "CKR_PIN_INCORRECT"
ok "a wrong --pin fails with CKR_PIN_INCORRECT"
