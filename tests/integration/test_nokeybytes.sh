#!/usr/bin/env bash
# No key bytes at rest: import a random Kpm and Ke, derive Km, Kpsa, two E2E
# masters and their T(1..4) as token objects (nokeybytes_helper), compute
# every one of those values here with openssl (onem2m-keys.md sections 3-4),
# check through a MAC that the module holds exactly these values, then search
# every file of the test directory (SQLite store + WAL, SoftHSM2 token
# directory, swtpm state) for each value as raw bytes and as lower- and
# upper-case hex: none may be found, while the module is running and after
# C_Finalize.  Positive controls show that the search does find things (the
# Kpm's CKA_LABEL in the store, key bytes planted in a control file).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_nokeybytes.sh hsm|tpm}"
helper=$M2M_BUILD/tests/integration/nokeybytes_helper
[ -x "$helper" ] || m2m_fail "helper not built: $helper"

L_KM="oneM2M Enrolment Key to Master Credential derivation"
L_KPSA="oneM2M Enrolment Key to Provisioned Secure Connection Key derivation"
MAF=maf.example.com
EB=/in-cse.example.com/CAE-nokeybytes
LABEL=kpm-nokeybytes-label

# hex2bin HEX: the bytes (bash printf, no interpreter start per call)
hex2bin()
{
	local hex=$1 esc=

	while [ -n "$hex" ]; do
		esc+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	# shellcheck disable=SC2059
	printf "$esc"
}

txt2hex()
{
	printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'
}

# hmac KEYHEX MSGHEX: HMAC-SHA-256 in lower-case hex (OpenSSL, not the module)
hmac()
{
	hex2bin "$2" | openssl mac -digest SHA256 -macopt "hexkey:$1" HMAC |
	    tr -d '\n' | tr 'A-F' 'a-f'
}

# t1234 MASTERHEX: "T1 T2 T3 T4" of section 4 (SHA-256)
t1234()
{
	local m=$1 t1 t2 t3 t4

	t1=$(hmac "$m" "$(txt2hex "E2E Message Authentication Key")01")
	t2=$(hmac "$m" "$t1$(txt2hex "E2E Message Confidentiality Key")02")
	t3=$(hmac "$m" "$t2$(txt2hex "E2E Attribute Authenticity Key")03")
	t4=$(hmac "$m" "$t3$(txt2hex "E2E Attribute Confidentiality Key")04")
	echo "$t1 $t2 $t3 $t4"
}

# search FILE...: counts of every NEEDLES entry (name=hex) in each file, as
# raw bytes, lower-case hex and upper-case hex; prints FOUND lines and TOTAL
search()
{
	python3 - "$@" <<'PY'
import os, sys
needles = [n.split("=", 1) for n in os.environ["NEEDLES"].split()]
total = 0
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"cannot read {path}: {e}")
        continue
    for name, hx in needles:
        for form, pat in (("raw", bytes.fromhex(hx)),
                          ("hex", hx.lower().encode()),
                          ("HEX", hx.upper().encode())):
            c = data.count(pat)
            if c:
                print(f"FOUND {name} ({form}) {c}x in {path}")
                total += c
print(f"TOTAL {total}")
PY
}

# the files to search: everything the module, SoftHSM2 and swtpm wrote
files_at_rest()
{
	find "$M2M_TMP" -type f ! -name helper.out ! -name control.bin \
	    ! -name '*.conf' -print | sort
}

kpm=$(openssl rand -hex 32)
ke=$(openssl rand -hex 32)
keid="$(openssl rand -hex 16)@mef.example.com"
zero=0000000000000000000000000000000000000000000000000000000000000000

km=$(hmac "$ke" "$(txt2hex "$L_KM")$(txt2hex "$MAF")")
kpsa=$(hmac "$ke" "$(txt2hex "$L_KPSA")$(txt2hex "$EB")")
m_kpsa=$(hmac "$zero" "$kpsa")
m_km=$(hmac "$zero" "$km")
read -r p1 p2 p3 p4 <<<"$(t1234 "$m_kpsa")"
read -r q1 q2 q3 q4 <<<"$(t1234 "$m_km")"
NEEDLES="Kpm=$kpm Ke=$ke Km=$km Kpsa=$kpsa"
NEEDLES+=" master(Kpsa)=$m_kpsa T1(Kpsa)=$p1 T2(Kpsa)=$p2 T3(Kpsa)=$p3"
NEEDLES+=" T4(Kpsa)=$p4 master(Km)=$m_km T1(Km)=$q1 T2(Km)=$q2 T3(Km)=$q3"
NEEDLES+=" T4(Km)=$q4"
export NEEDLES

# the searcher itself finds raw and hex forms
{
	printf 'junk'
	hex2bin "$ke"
	printf 'junk%s' "${kpsa^^}"
} >"$M2M_TMP/control.bin"
out=$(search "$M2M_TMP/control.bin")
m2m_expect_contains "$out" "FOUND Ke (raw) 1x"
m2m_expect_contains "$out" "FOUND Kpsa (HEX) 1x"
echo "ok: $M2M_BACKEND: the search finds planted key bytes (raw and hex)"

fifo=$M2M_TMP/go.fifo
mkfifo "$fifo"
"$helper" "$M2M_BACKEND" "$kpm" "$ke" "$keid" "$MAF" "$EB" "$fifo" \
    >"$M2M_TMP/helper.out" 2>&1 &
hpid=$!
stop_helper()
{
	kill -KILL "$hpid" 2>/dev/null
	wait "$hpid" 2>/dev/null
}
m2m_defer stop_helper
for ((i = 0; i < 1200; i++)); do
	grep -q '^READY' "$M2M_TMP/helper.out" && break
	kill -0 "$hpid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q '^READY' "$M2M_TMP/helper.out"; then
	cat "$M2M_TMP/helper.out" >&2
	m2m_fail "nokeybytes_helper did not get ready"
fi

# the module holds exactly the values computed here
probe=$(txt2hex probe)
m2m_expect_contains "$(cat "$M2M_TMP/helper.out")" \
    "MAC_KPSA_T1 $(hmac "$p1" "$probe")"
m2m_expect_contains "$(cat "$M2M_TMP/helper.out")" \
    "MAC_KM_T1 $(hmac "$q1" "$probe")"
echo "ok: $M2M_BACKEND: Km, Kpsa, masters and T(1) in the token are the values computed with openssl"

check_at_rest()
{
	local when=$1 out store_files

	mapfile -t files < <(files_at_rest)
	[ "${#files[@]}" -gt 0 ] || m2m_fail "no files to search"
	out=$(search "${files[@]}")
	if [[ $out != *"TOTAL 0"* ]]; then
		printf '%s\n' "$out" >&2
		m2m_fail "$when: key bytes found at rest"
	fi
	echo "ok: $M2M_BACKEND: $when: no key value (raw/hex/HEX) in ${#files[@]} files: ${files[*]#"$M2M_TMP/"}"
	# positive control: the label of the Kpm is in the store
	mapfile -t store_files < <(find "$M2M_TMP" -maxdepth 1 -name 'store.db*' -type f)
	out=$(NEEDLES="label=$(txt2hex "$LABEL")" search "${store_files[@]}")
	if [[ $out == *"TOTAL 0"* ]]; then
		printf '%s\n' "$out" >&2
		m2m_fail "$when: the search does not even find CKA_LABEL in the store"
	fi
	echo "ok: $M2M_BACKEND: $when: the same search finds the CKA_LABEL text in the store"
}

check_at_rest "module running"
echo go >"$fifo"
wait "$hpid" || {
	cat "$M2M_TMP/helper.out" >&2
	m2m_fail "nokeybytes_helper failed"
}
grep -q '^DONE' "$M2M_TMP/helper.out" || m2m_fail "helper did not finish"
check_at_rest "after C_Finalize"
