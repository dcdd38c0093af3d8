#!/usr/bin/env bash
# m2m-label: tool
# OpenSC pkcs11-tool against the module with EC keys: --keypairgen on
# prime256v1 and secp384r1, --sign -m ECDSA-SHA256 / ECDSA-SHA384 checked
# with openssl dgst -verify against the public key read back
# (--read-object --type pubkey), --verify in the token, a certificate
# (--write-object --type cert) and a data object (--type data
# --application-label) written, listed and read back, and the private
# key's value refused.  Run as "bash test_pkcs11_tool_ec.sh hsm|tpm"; a
# backend without EC keys (no CKM_EC_KEY_PAIR_GEN listed) skips the EC
# keys, saying so, and still checks certificates and data objects.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_pkcs11_tool_ec.sh hsm|tpm}"

SO_PIN=so-87654321
USER_PIN=user-12345678
LABEL=EC

run()
{
	local what=$1

	shift
	out=$(m2m_p11tool "$@" 2>&1) || {
		printf '%s\n' "--- output ---" "$out" "--- end ---" >&2
		m2m_fail "$what: pkcs11-tool $* failed"
	}
}

ok()
{
	echo "ok: $M2M_BACKEND: $*"
}

run "init token" --init-token --label "$LABEL" --so-pin "$SO_PIN"
TOK=(--token-label "$LABEL")
run "init pin" "${TOK[@]}" --login --login-type so --so-pin "$SO_PIN" \
    --init-pin --pin "$USER_PIN"
U=("${TOK[@]}" --login --pin "$USER_PIN")

run "list mechanisms" "${TOK[@]}" --list-mechanisms
if [[ $out == *"ECDSA-KEY-PAIR-GEN"* || $out == *"EC-KEY-PAIR-GEN"* ]]; then
	has_ec=1
	for m in ECDSA ECDSA-SHA256 ECDSA-SHA384; do
		m2m_expect_contains "$out" "$m,"
	done
	ok "--list-mechanisms lists EC key pair generation and ECDSA"
else
	# both backends have EC keys: one that lost them is a failure
	m2m_fail "$M2M_BACKEND: --list-mechanisms lists no EC key pair" \
	    "generation: $out"
fi

data=$M2M_TMP/data
head -c 1000 /dev/urandom >"$data"

# ecdsa CURVE ID MECH DGST: keypairgen, sign, openssl verify, token verify
ecdsa()
{
	local curve=$1 id=$2 mech=$3 dgst=$4

	run "keypairgen $curve" "${U[@]}" --keypairgen \
	    --key-type "EC:$curve" --label "ec-$curve" --id "$id" --usage-sign
	m2m_expect_contains "$out" "Key pair generated"
	m2m_expect_contains "$out" "EC_POINT"
	run "sign $curve" "${U[@]}" --sign --mechanism "$mech" --id "$id" \
	    --signature-format openssl -i "$data" -o "$M2M_TMP/sig-$id"
	if [ "$curve" = prime256v1 ]; then
		run "read pubkey $curve" "${TOK[@]}" --read-object \
		    --type pubkey --id "$id" -o "$M2M_TMP/pub-$id.der"
	else
		# pkcs11-tool 0.23 cannot make a P-384 EVP_PKEY ("cannot
		# create EVP_PKEY", SoftHSM2's keys too): the SPKI is built
		# here from the CKA_EC_POINT it lists (0x04 0x61 point)
		run "list pubkey $curve" "${TOK[@]}" --list-objects \
		    --type pubkey --id "$id"
		point=$(printf '%s\n' "$out" |
		    sed -n 's/^ *EC_POINT: *0461\(04[0-9a-f]*\)$/\1/p')
		[ ${#point} -eq 194 ] ||
		    m2m_fail "no P-384 CKA_EC_POINT listed: $out"
		printf '%s%s' 3076301006072a8648ce3d020106052b81040022036200 \
		    "$point" | xxd -r -p >"$M2M_TMP/pub-$id.der"
	fi
	openssl pkey -pubin -inform DER -in "$M2M_TMP/pub-$id.der" \
	    -out "$M2M_TMP/pub-$id.pem" ||
	    m2m_fail "openssl cannot read the $curve public key"
	openssl pkey -pubin -in "$M2M_TMP/pub-$id.pem" -noout -text |
	    grep -q "ASN1 OID: $curve" ||
	    m2m_fail "the public key read back is not on $curve"
	openssl dgst "-$dgst" -verify "$M2M_TMP/pub-$id.pem" \
	    -signature "$M2M_TMP/sig-$id" "$data" >/dev/null ||
	    m2m_fail "openssl does not verify the $mech signature"
	# the raw (r || s) form, verified by the token with the public key
	run "sign raw $curve" "${U[@]}" --sign --mechanism "$mech" \
	    --id "$id" -i "$data" -o "$M2M_TMP/raw-$id"
	run "verify $curve" "${U[@]}" --verify --mechanism "$mech" \
	    --id "$id" -i "$data" --signature-file "$M2M_TMP/raw-$id"
	m2m_expect_contains "$out" "Signature is valid"
	cp "$data" "$M2M_TMP/data-$id"
	printf 'x' >>"$M2M_TMP/data-$id"
	out=$(m2m_p11tool "${U[@]}" --verify --mechanism "$mech" \
	    --id "$id" -i "$M2M_TMP/data-$id" \
	    --signature-file "$M2M_TMP/raw-$id" 2>&1) || true
	m2m_expect_contains "$out" "Invalid signature"
	ok "EC:$curve: --keypairgen, --sign -m $mech verified by openssl" \
	    "and by the token, a changed message refused"
}

if [ "$has_ec" = 1 ]; then
	ecdsa prime256v1 e1 ECDSA-SHA256 sha256
	ecdsa secp384r1 e2 ECDSA-SHA384 sha384

	run "list keys" "${U[@]}" --list-objects --type privkey
	m2m_expect_contains "$out" "Private Key Object; EC"
	m2m_expect_contains "$out" "label:      ec-prime256v1"
	m2m_expect_contains "$out" "Usage:      sign"
	m2m_expect_contains "$out" "Access:     sensitive, always sensitive, never extractable, local"
	ok "--list-objects: the EC private keys, sensitive and never" \
	    "extractable"
	out=$(m2m_p11tool "${U[@]}" --read-object --type privkey --id e1 \
	    -o "$M2M_TMP/priv" 2>&1) || true
	[ ! -s "$M2M_TMP/priv" ] ||
	    m2m_fail "the private key's value was read: $out"
	ok "--read-object of the EC private key gives nothing"
fi

# a certificate, self-signed by a key made here with openssl
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$M2M_TMP/ca.key" -subj "/CN=m2mtoken test device" \
    -days 2 -outform DER -out "$M2M_TMP/cert.der" 2>/dev/null ||
    m2m_fail "openssl req -x509 failed"
run "write cert" "${U[@]}" --write-object "$M2M_TMP/cert.der" --type cert \
    --id e1 --label device-cert
m2m_expect_contains "$out" "Certificate Object"
run "list certs" "${TOK[@]}" --list-objects --type cert
m2m_expect_contains "$out" "label:      device-cert"
m2m_expect_contains "$out" "subject:    DN: CN=m2mtoken test device"
ok "--write-object --type cert: found without login (a public object)" \
    "with its subject"
run "read cert" "${TOK[@]}" --read-object --type cert --id e1 \
    -o "$M2M_TMP/cert-back.der"
cmp -s "$M2M_TMP/cert.der" "$M2M_TMP/cert-back.der" ||
    m2m_fail "the certificate read back differs"
ok "--read-object --type cert gives the same DER"

# a data object with its application label
printf 'gateway settings v1' >"$M2M_TMP/blob"
run "write data" "${U[@]}" --write-object "$M2M_TMP/blob" --type data \
    --application-label m2m-app --label settings
m2m_expect_contains "$out" "Data object"
run "list data" "${U[@]}" --list-objects --type data
m2m_expect_contains "$out" "application:    'm2m-app'"
run "read data" "${U[@]}" --read-object --type data \
    --application-label m2m-app -o "$M2M_TMP/blob-back"
cmp -s "$M2M_TMP/blob" "$M2M_TMP/blob-back" ||
    m2m_fail "the data object read back differs"
ok "--write-object --type data --application-label, listed and read back"
run "write private data" "${U[@]}" --write-object "$M2M_TMP/blob" \
    --type data --application-label m2m-priv --application-id 1.3.6.1.4.1.99999.1 \
    --private --label secret-settings
run "list data (no login)" "${TOK[@]}" --list-objects --type data
[[ $out != *"m2m-priv"* ]] ||
    m2m_fail "a private data object is listed without login: $out"
run "list data (login)" "${U[@]}" --list-objects --type data
m2m_expect_contains "$out" "application:    'm2m-priv'"
m2m_expect_contains "$out" "app_id:         1.3.6.1.4.1.99999.1"
ok "--write-object --type data --private --application-id: hidden" \
    "without login, listed with its CKA_OBJECT_ID after"

echo "ok: $M2M_BACKEND: test_pkcs11_tool_ec.sh"
