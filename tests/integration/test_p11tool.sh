#!/usr/bin/env bash
# m2m-label: tool
# GnuTLS p11tool (3.7.9) against the module: --initialize on the free slot,
# --initialize-pin, --list-tokens (label, manufacturer), --write of a secret
# key, --list-all with and without --login, --list-mechanisms, a wrong PIN.
# (One public key is made with pkcs11-tool: GnuTLS writes only private ones.)
# Backend-agnostic: run as "bash test_p11tool.sh hsm|tpm".
#
# GnuTLS does not list uninitialised tokens, so --list-tokens on a fresh
# store shows nothing; --initialize finds the free slot by a URL that
# matches it (pkcs11:manufacturer=m2mtoken: the fresh store has only that
# slot).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_p11tool.sh hsm|tpm}"

SO_PIN=so-87654321
USER_PIN=user-12345678
LABEL=gnutls-T
URL="pkcs11:token=$LABEL"
KEY_HEX=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

p11()
{
	p11tool --batch --provider "$M2MTOKEN_MODULE" "$@" </dev/null
}

# run TEXT ARGS...: p11tool ARGS..., which must succeed; output in $out
run()
{
	local what=$1

	shift
	out=$(p11 "$@" 2>&1) || {
		printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
		m2m_fail "$what: p11tool $* failed"
	}
}

ok()
{
	echo "ok: $M2M_BACKEND: $*"
}

case $M2M_BACKEND in
hsm) model="m2mtoken HSM" ;;
tpm) model="m2mtoken TPM" ;;
esac

run "list tokens (fresh store)" --list-tokens
ok "--list-tokens on a fresh store"

# 1. token life cycle through p11tool
out=$(GNUTLS_SO_PIN=$SO_PIN p11 --initialize --label "$LABEL" \
    "pkcs11:manufacturer=m2mtoken" 2>&1) || {
	printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
	m2m_fail "p11tool --initialize pkcs11:manufacturer=m2mtoken failed"
}
m2m_expect_contains "$out" "Token was successfully initialized"
run "list tokens" --list-tokens
m2m_expect_contains "$out" "Label: $LABEL"
m2m_expect_contains "$out" "Manufacturer: m2mtoken"
m2m_expect_contains "$out" "Model: $model"
m2m_expect_contains "$out" "uPIN uninitialized"
ok "--initialize: --list-tokens shows $LABEL, manufacturer m2mtoken"

out=$(GNUTLS_SO_PIN=$SO_PIN GNUTLS_PIN=$USER_PIN p11 --initialize-pin \
    "$URL" 2>&1) || {
	printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
	m2m_fail "p11tool --initialize-pin failed"
}
run "list tokens after initialize-pin" --list-tokens
m2m_expect_contains "$out" "Label: $LABEL"
[[ $out != *"uPIN uninitialized"* ]] ||
    m2m_fail "the user PIN is still uninitialised: $out"
ok "--initialize-pin sets the user PIN"

run "list mechanisms" --list-mechanisms "$URL"
m2m_expect_contains "$out" "CKM_SHA256_HMAC"
m2m_expect_contains "$out" "CKM_AES_GCM"
m2m_expect_contains "$out" "[0xcd324d01]"
m2m_expect_contains "$out" "[0xcd324d06]"
ok "--list-mechanisms"

# 2. a private secret key written through p11tool
out=$(GNUTLS_PIN=$USER_PIN p11 --login --write --secret-key "$KEY_HEX" \
    --label p11tool-key --mark-private "$URL" 2>&1) || {
	printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
	m2m_fail "p11tool --write --secret-key failed"
}
ok "--write --secret-key --mark-private"

# and a public one, so that a listing without login is not empty (p11tool
# exits without C_Finalize when nothing matches; see the wrong-PIN note).
# GnuTLS marks every secret key it writes private, so pkcs11-tool makes it.
out=$(pkcs11-tool --module "$M2MTOKEN_MODULE" --token-label "$LABEL" \
    --login --pin "$USER_PIN" --keygen --key-type GENERIC:32 \
    --label p11tool-public 2>&1) || {
	printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
	m2m_fail "pkcs11-tool --keygen (public key) failed"
}

# without a login the private key stays invisible
run "list without login" --list-all "$URL"
m2m_expect_contains "$out" "Label: p11tool-public"
[[ $out != *"p11tool-key"* ]] ||
    m2m_fail "a private key is listed without login: $out"
ok "--list-all without --login shows only the public key"

out=$(GNUTLS_PIN=$USER_PIN p11 --login --list-all "$URL" 2>&1) || {
	printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
	m2m_fail "p11tool --login --list-all failed"
}
m2m_expect_contains "$out" "Label: p11tool-key"
m2m_expect_contains "$out" "Label: p11tool-public"
m2m_expect_contains "$out" "Type: Secret key"
m2m_expect_contains "$out" "CKA_SENSITIVE"
ok "--login --list-all lists the key labels"

# 3. a wrong PIN.  Keep this last: p11tool exits on it without C_Finalize,
# and with a TPM reached without a resource manager (swtpm here) whatever
# the module had loaded stays loaded.
if out=$(GNUTLS_PIN=wrong-pin-0000 p11 --login --list-all "$URL" 2>&1); then
	m2m_fail "a wrong GNUTLS_PIN was accepted: $out"
fi
m2m_expect_contains "$out" "Wrong PIN"
ok "a wrong GNUTLS_PIN is refused"
