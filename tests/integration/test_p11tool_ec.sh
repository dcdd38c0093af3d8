#!/usr/bin/env bash
# m2m-label: tool
# GnuTLS p11tool (3.7.9) with EC keys and a certificate in the module:
# --generate-privkey ecdsa on secp256r1 and secp384r1, --test-sign,
# --export-pubkey (equal to the key p11tool printed when it made it), --write
# --load-certificate of a certificate for the P-256 key (made by a test CA
# with OpenSSL), --list-all, and a PKCS#11 URI for each object (private key,
# public key, certificate) that selects it alone.  The private key can be
# neither exported nor listed without a login.
# Backend-agnostic: run as "bash test_p11tool_ec.sh hsm|tpm".
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_p11tool_ec.sh hsm|tpm}"

SO_PIN=so-87654321
USER_PIN=user-12345678
LABEL=ec-gnutls
TOK="pkcs11:token=$LABEL"

p11()
{
	GNUTLS_PIN=$USER_PIN p11tool --batch --provider "$M2MTOKEN_MODULE" \
	    "$@" </dev/null
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

# pub_hex FILE: the DER form of a PEM public key, in hex
pub_hex()
{
	openssl pkey -pubin -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'
}

# count_objects TEXT: the number of "Object N:" lines in a --list-all output
count_objects()
{
	grep -c '^Object [0-9]*:' <<<"$1" || true
}

# 1. the token: pkcs11-tool initialises the free slot and sets the user PIN
m2m_p11tool_token "$LABEL" "$SO_PIN" "$USER_PIN"

# 2. two key pairs made in the token
declare -A ID=([secp256r1]=0a01 [secp384r1]=0a02)
declare -A BITS=([secp256r1]=256 [secp384r1]=384)
for curve in secp256r1 secp384r1; do
	run "generate $curve" --login --generate-privkey ecdsa \
	    --curve "$curve" --label "ec-$curve" --id "${ID[$curve]}" \
	    --outfile "$M2M_TMP/gen-$curve.pem" "$TOK"
	grep -q 'BEGIN PUBLIC KEY' "$M2M_TMP/gen-$curve.pem" ||
	    m2m_fail "--generate-privkey $curve printed no public key: $out"
	bits=$(openssl pkey -pubin -in "$M2M_TMP/gen-$curve.pem" -noout \
	    -text | sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p')
	[ "$bits" = "${BITS[$curve]}" ] ||
	    m2m_fail "$curve: the public key has $bits bits, not ${BITS[$curve]}"
	ok "--generate-privkey ecdsa --curve $curve ($bits-bit public key)"
done

# 3. --test-sign: p11tool signs with the token key and verifies the
# signature with the public key it reads from the token
for curve in secp256r1 secp384r1; do
	run "test-sign $curve" --login --test-sign \
	    "$TOK;object=ec-$curve;type=private"
	m2m_expect_contains "$out" "Signing using ECDSA-SHA256... ok"
	m2m_expect_contains "$out" \
	    "Verifying against private key parameters... ok"
	m2m_expect_contains "$out" \
	    "Verifying against public key in the token... ok"
	ok "--test-sign with ec-$curve"
done

# 4. --export-pubkey, through the private key's URI and the public key's,
# gives the key p11tool printed at generation
for type in private public; do
	run "export-pubkey ($type)" --login --export-pubkey \
	    --outfile "$M2M_TMP/pub-$type.pem" \
	    "$TOK;object=ec-secp256r1;type=$type"
	[ "$(pub_hex "$M2M_TMP/pub-$type.pem")" = \
	    "$(pub_hex "$M2M_TMP/gen-secp256r1.pem")" ] ||
	    m2m_fail "--export-pubkey type=$type differs from the key made"
	ok "--export-pubkey type=$type equals the generated public key"
done

# 5. a certificate for the P-256 key, issued by a test CA made here
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$M2M_TMP/ca.key" -out "$M2M_TMP/ca.pem" -subj /CN=m2m-test-ca \
    -days 2 2>/dev/null || m2m_fail "cannot make the test CA"
openssl x509 -new -subj /CN=gw.example.com \
    -force_pubkey "$M2M_TMP/gen-secp256r1.pem" -CA "$M2M_TMP/ca.pem" \
    -CAkey "$M2M_TMP/ca.key" -days 2 -out "$M2M_TMP/cert.pem" 2>/dev/null ||
    m2m_fail "the test CA cannot issue the certificate"
run "write the certificate" --login --write \
    --load-certificate "$M2M_TMP/cert.pem" --label gw-cert --id 0a01 "$TOK"
ok "--write --load-certificate --label gw-cert --id 0a01"

# 6. --list-all: with a login all five objects, without one the private
# keys stay invisible
run "list all (login)" --login --list-all "$TOK"
[ "$(count_objects "$out")" -eq 5 ] ||
    m2m_fail "--login --list-all: not 5 objects: $out"
m2m_expect_contains "$out" "Type: Private key (EC/ECDSA-SECP256R1)"
m2m_expect_contains "$out" "Type: Private key (EC/ECDSA-SECP384R1)"
m2m_expect_contains "$out" "Type: Public key (EC/ECDSA-SECP256R1)"
m2m_expect_contains "$out" "Type: Public key (EC/ECDSA-SECP384R1)"
m2m_expect_contains "$out" "Type: X.509 Certificate (EC/ECDSA-SECP256R1)"
m2m_expect_contains "$out" "CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE;"
m2m_expect_contains "$out" "object=gw-cert;type=cert"
ok "--login --list-all: 2 private keys, 2 public keys, 1 certificate"

out=$(p11tool --batch --provider "$M2MTOKEN_MODULE" --list-all "$TOK" \
    </dev/null 2>&1) || m2m_fail "--list-all without login failed: $out"
[ "$(count_objects "$out")" -eq 3 ] ||
    m2m_fail "--list-all without login: not 3 objects: $out"
[[ $out != *"Private key"* ]] ||
    m2m_fail "a private key is listed without login: $out"
ok "--list-all without --login: the public keys and the certificate"

# 7. one URI per object selects that object alone
for spec in "ec-secp256r1;type=private:Private key (EC/ECDSA-SECP256R1)" \
    "ec-secp256r1;type=public:Public key (EC/ECDSA-SECP256R1)" \
    "gw-cert;type=cert:X.509 Certificate (EC/ECDSA-SECP256R1)" \
    "ec-secp384r1;type=private:Private key (EC/ECDSA-SECP384R1)" \
    "ec-secp384r1;type=public:Public key (EC/ECDSA-SECP384R1)"; do
	uri="$TOK;object=${spec%%:*}"
	run "list $uri" --login --list-all "$uri"
	[ "$(count_objects "$out")" -eq 1 ] ||
	    m2m_fail "$uri does not select exactly one object: $out"
	m2m_expect_contains "$out" "Type: ${spec#*:}"
	ok "$uri selects one object"
done
run "list by id" --login --list-all "$TOK;id=%0A%01"
[ "$(count_objects "$out")" -eq 3 ] ||
    m2m_fail "id=%0A%01 does not select the key pair and certificate: $out"
ok "$TOK;id=%0A%01 selects the P-256 key pair and its certificate"

# the certificate comes back as written
run "export the certificate" --export "$TOK;object=gw-cert;type=cert" \
    --outfile "$M2M_TMP/cert-back.pem"
[ "$(openssl x509 -in "$M2M_TMP/cert-back.pem" -outform DER | sha256sum)" = \
    "$(openssl x509 -in "$M2M_TMP/cert.pem" -outform DER | sha256sum)" ] ||
    m2m_fail "the certificate read back differs from the one written"
ok "--export type=cert gives back the certificate written"

# 8. the private key cannot leave the token
if out=$(p11 --login --export "$TOK;object=ec-secp256r1;type=private" \
    2>&1); then
	m2m_fail "--export of a private key succeeded: $out"
fi
m2m_expect_contains "$out" "The requested data were not available"
ok "--export of the private key is refused"
