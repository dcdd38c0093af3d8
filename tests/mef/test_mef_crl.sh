#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's certificate listener and its CRLs ([cert] crl, crl_check;
# SIGHUP), on SoftHSM2 with the set-up of test_mef_cert.sh (mef_lib.sh):
# test-ca (the root [cert] ca names) issues the MEF's certificate, the
# enrolees dev-cert-1 and dev-cert-2, and the intermediate CA int-ca, which
# issues the enrolee dev-int-1 (presented with int-ca by s_client).
#   crl_check = chain: int-ca revoked in test-ca's CRL refuses dev-int-1
#   (leaf lets it through); a file without int-ca's CRL refuses it with
#   "unable to get certificate CRL"; one without test-ca's (a CA of the CA
#   file) stops m2m-mef at start.
#   SIGHUP: a CRL file written over with dev-cert-1 revoked refuses it from
#   then on, dev-cert-2 still bootstraps, the chain check stays, and a
#   connection made before is still served; a corrupt CRL file, a good CRL
#   followed by a corrupt one, a missing CRL file, a corrupt CA file, or
#   CRLs that decode but cannot be used (expired, not valid yet, signed by
#   another CA named test-ca or by a CA without cRLSign, test-ca's missing
#   under chain, an expired one in the CA file) leaves the store as it
#   was, one line says why, the MEF keeps running.  The CRL of a CA not in
#   the CA file is taken.  An expired CRL, or one of another CA named
#   test-ca, stops m2m-mef at start.  Without [cert]: nothing to reload.  SIGHUP while m2m-mef starts (gdb
#   stops it in mef_tok_open) or stops (in mef_reg_close), outside the
#   loop's handler: ignored, it serves and exits 0.
#   bash test_mef_crl.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_crl.sh hsm}"

T=$M2M_TMP

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

# start_fails WHAT LINE: m2m-mef on mef.conf stops at start, saying LINE
start_fails()
{
	local out

	out=$(timeout 20 "$MEF" -c "$T/mef.conf" 2>&1 </dev/null) &&
	    m2m_fail "$1: m2m-mef started: $out"
	m2m_expect_contains "$out" "$2"
	m2m_expect_contains "$out" "stopped: configuration error"
	ok "$1: m2m-mef stops at start: $2"
}

# utc YYYYMMDDHHMMSSZ: that time as the MEF's lines write it
utc()
{
	sed -E 's/^(....)(..)(..)(..)(..)(..)Z$/\1-\2-\3 \4:\5:\6 UTC/' <<<"$1"
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
# test-ca's CRL missing: int-ca itself would have none, nor would anything
# else test-ca issued (leaf would not ask for int-ca's): test-ca is in the
# CA file, so that is known at start
mef_stop
crl_conf "$T/int-ca.crl" chain
start_fails "chain, no CRL of test-ca" \
    "m2mtls: no CRL of the CA '/CN=test-ca' of $T/test-ca.pem in $T/int-ca.crl: crl_check = chain needs one of every CA"
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

# --- SIGHUP: the CRL file read again ---------------------------------------------
cp "$T/both-1.crl" "$T/crl.pem"
restart "$T/crl.pem" chain
mef_booted "before SIGHUP: dev-cert-1" "$T/dev1.pem" "$T/k1.key"
mef_refused "before SIGHUP: dev-int-1 (int-ca revoked)" \
    "'/CN=int-ca' does not verify: certificate revoked" \
    "$T/devi.pem" "$T/k3.key" "$INT"
# a keep-alive connection of dev-cert-1 made before the SIGHUP
boot_ka()
{
	local b="{\"Targets\": [\"$GW1\"]}"

	printf 'POST /bootstrap HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s' \
	    "$FQDN" "${#b}" "${1:-}" "$b"
}
mkfifo "$T/ka.in"
timeout 20 openssl s_client -tls1_2 -connect "127.0.0.1:$CPORT" \
    -servername "$FQDN" -cert "$T/dev1.pem" -key "$T/k1.key" \
    -CAfile "$T/test-ca.pem" -verify_return_error -ign_eof -nocommands \
    <"$T/ka.in" >"$T/ka.out" 2>&1 &
ka_pid=$!
exec 7>"$T/ka.in"
boot_ka >&7
for ((i = 0; i < 100; i++)); do
	grep -q '^HTTP/1.1 200' "$T/ka.out" && break
	sleep 0.1
done
grep -q '^HTTP/1.1 200' "$T/ka.out" ||
    m2m_fail "keep-alive: no first answer: $(cat "$T/ka.out")"
# dev-cert-1 revoked in a new CRL file written over the old one
mef_revoke test-ca "$T/dev1.pem"
mef_crl test-ca "$T/test-ca-2.crl"
cat "$T/test-ca-2.crl" "$T/int-ca.crl" >"$T/crl.pem"
n=$(wc -l <"$T/mef.log")
mef_hup
mef_log_since "$n" "SIGHUP: certificate listener reloaded: CAs of $T/test-ca.pem, 2 CRLs of $T/crl.pem (crl_check chain)" ||
    m2m_fail "no reload line: $(tail -n 3 "$T/mef.log")"
boot_ka $'Connection: close\r\n' >&7
exec 7>&-
wait "$ka_pid" || true
# answered, not cut: a second bootstrap on one TLS session is a 400
grep -q -F '{"Status":false,"ErrorString":"a second bootstrap on one TLS session"}' \
    "$T/ka.out" || m2m_fail "keep-alive: no second answer: $(cat "$T/ka.out")"
ok "SIGHUP: a connection verified before it is still served (its next request answered)"
mef_refused "after SIGHUP: dev-cert-1, revoked in the new file" \
    "'/CN=dev-cert-1' does not verify: certificate revoked" \
    "$T/dev1.pem" "$T/k1.key"
mef_booted "after SIGHUP: dev-cert-2" "$T/dev2.pem" "$T/k2.key"
mef_refused "after SIGHUP: dev-int-1, still (the chain check kept)" \
    "'/CN=int-ca' does not verify: certificate revoked" \
    "$T/devi.pem" "$T/k3.key" "$INT"
ok "SIGHUP: the new CRL file is used from the next handshake on"

# --- SIGHUP with a CRL file that cannot be used: the old store stays --------------
# hup_bad WHAT REASON: SIGHUP, the failure line with REASON, nothing changed
hup_bad()
{
	local n

	n=$(wc -l <"$T/mef.log")
	mef_hup
	mef_log_since "$n" "SIGHUP: reload failed, the certificate listener keeps the CAs and CRLs it had: $2" ||
	    m2m_fail "$1: no failure line: $(tail -n 3 "$T/mef.log")"
	[ "$(tail -n "+$((n + 1))" "$T/mef.log" | grep -c 'SIGHUP')" -eq 1 ] ||
	    m2m_fail "$1: not one line"
	kill -0 "$MEF_PID" 2>/dev/null || m2m_fail "$1: m2m-mef stopped"
	mef_refused "$1: dev-cert-1 still refused" \
	    "'/CN=dev-cert-1' does not verify: certificate revoked" \
	    "$T/dev1.pem" "$T/k1.key"
	mef_booted "$1: dev-cert-2 still served" "$T/dev2.pem" "$T/k2.key"
	mef_refused "$1: dev-int-1 still refused" \
	    "'/CN=int-ca' does not verify: certificate revoked" \
	    "$T/devi.pem" "$T/k3.key" "$INT"
	ok "SIGHUP with $1: the old CRLs kept, one line, still serving"
}
printf 'this is not a CRL\n' >"$T/crl.pem"
hup_bad "a corrupt CRL file" \
    "cannot read the CRL file $T/crl.pem: no CRL (PEM \"X509 CRL\") in it"
# a good CRL (test-ca's of before: dev-cert-1 not revoked) then a broken one
{
	cat "$T/test-ca-0.crl"
	printf '%s\n' "-----BEGIN X509 CRL-----" "MIIB!!notbase64" \
	    "-----END X509 CRL-----"
} >"$T/crl.pem"
hup_bad "a good CRL, then a corrupt one" \
    "cannot read the CRL file $T/crl.pem: bad base64 decode"
rm -f "$T/crl.pem"
hup_bad "no CRL file" \
    "cannot read the CRL file $T/crl.pem: No such file or directory"
# CRLs that decode but cannot be used: installed, each would refuse every
# enrolee it covers (CRL has expired, CRL signature failure, ...)
MINUS2=$(date -u -d '-2 day' +%Y%m%d%H%M%SZ)
PLUS2=$(date -u -d '+2 day' +%Y%m%d%H%M%SZ)
mef_crl_at test-ca "$T/test-ca-exp.crl" "$MINUS2" "$MEF_NOW_M1"
cat "$T/test-ca-exp.crl" "$T/int-ca.crl" >"$T/crl.pem"
hup_bad "an expired CRL" \
    "the CRL of '/CN=test-ca' in $T/crl.pem has expired: nextUpdate $(utc "$MEF_NOW_M1")"
mef_crl_at test-ca "$T/test-ca-new.crl" "$MEF_NOW_P1" "$PLUS2"
cat "$T/test-ca-new.crl" "$T/int-ca.crl" >"$T/crl.pem"
hup_bad "a CRL not valid yet" \
    "the CRL of '/CN=test-ca' in $T/crl.pem is not valid yet: lastUpdate $(utc "$MEF_NOW_P1")"
# another CA named test-ca, not the CA file's (a rekeyed or a test CA):
# its CRL names test-ca as its issuer, and fails test-ca's key
MEF_CA_CN=test-ca mef_ca fake-ca
mef_crl fake-ca "$T/fake-ca.crl"
cat "$T/fake-ca.crl" "$T/int-ca.crl" >"$T/crl.pem"
hup_bad "a CRL of another CA named test-ca" \
    "the CRL of '/CN=test-ca' in $T/crl.pem: its signature does not verify with the key of the CA '/CN=test-ca' of $T/test-ca.pem (a CRL of another CA of that name?)"
# crl_check = chain: test-ca, a CA of the CA file, without its CRL
cp "$T/int-ca.crl" "$T/crl.pem"
hup_bad "chain, no CRL of test-ca" \
    "no CRL of the CA '/CN=test-ca' of $T/test-ca.pem in $T/crl.pem: crl_check = chain needs one of every CA"
# a CA of the CA file whose keyUsage leaves out cRLSign, and its CRL
mef_ca nosign-ca
openssl req -x509 -new -key "$T/nosign-ca.key" -subj /CN=nosign-ca -days 2 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" -out "$T/nosign-ca.pem" \
    2>/dev/null || m2m_fail "the CA nosign-ca"
mef_crl nosign-ca "$T/nosign-ca.crl"
cp "$T/test-ca.pem" "$T/test-ca.pem.good"
cat "$T/test-ca.pem.good" "$T/nosign-ca.pem" >"$T/test-ca.pem"
cat "$T/test-ca-2.crl" "$T/int-ca.crl" "$T/nosign-ca.crl" >"$T/crl.pem"
hup_bad "a CRL of a CA that may not sign CRLs" \
    "the CRL of '/CN=nosign-ca' in $T/crl.pem: the CA '/CN=nosign-ca' of $T/test-ca.pem may not sign CRLs (keyUsage without cRLSign)"
# a CRL in the CA file (X509_STORE_load_file takes those too): the same
cat "$T/test-ca.pem.good" "$T/test-ca-exp.crl" >"$T/test-ca.pem"
cat "$T/test-ca-2.crl" "$T/int-ca.crl" >"$T/crl.pem"
hup_bad "an expired CRL in the CA file" \
    "the CRL of '/CN=test-ca' in $T/test-ca.pem has expired: nextUpdate $(utc "$MEF_NOW_M1")"
mv "$T/test-ca.pem.good" "$T/test-ca.pem"
# the CRL of a CA that is not in the CA file is taken: int-ca's is one
# (enrolees send int-ca's certificate); its signature can only be checked
# at each handshake, against the CA certificate the enrolee sends
mef_ca other-ca
mef_crl other-ca "$T/other-ca.crl"
cat "$T/test-ca-2.crl" "$T/int-ca.crl" "$T/other-ca.crl" >"$T/crl.pem"
n=$(wc -l <"$T/mef.log")
mef_hup
mef_log_since "$n" "SIGHUP: certificate listener reloaded: CAs of $T/test-ca.pem, 3 CRLs of $T/crl.pem (crl_check chain)" ||
    m2m_fail "the CRL of a CA not in the CA file: $(tail -n 3 "$T/mef.log")"
mef_booted "a CRL of a CA not in the CA file: dev-cert-2" "$T/dev2.pem" \
    "$T/k2.key"
ok "SIGHUP with the CRL of a CA not in the CA file (as int-ca's): taken"
# the CA file too: read again, and a bad one keeps the old store
cp "$T/test-ca-2.crl" "$T/crl.pem"
cat "$T/int-ca.crl" >>"$T/crl.pem"
cp "$T/test-ca.pem" "$T/test-ca.pem.good"
printf 'garbage\n' >"$T/test-ca.pem"
n=$(wc -l <"$T/mef.log")
mef_hup
mef_log_since "$n" "SIGHUP: reload failed, the certificate listener keeps the CAs and CRLs it had: cannot read the CA file $T/test-ca.pem: no certificate or crl found" ||
    m2m_fail "a corrupt CA file: no failure line: $(tail -n 3 "$T/mef.log")"
mv "$T/test-ca.pem.good" "$T/test-ca.pem"
mef_booted "a corrupt CA file: dev-cert-2 still served" "$T/dev2.pem" \
    "$T/k2.key"
ok "SIGHUP with a corrupt CA file: the old store kept"
mef_hup
mef_refused "the files good again, SIGHUP: dev-cert-1 refused" \
    "'/CN=dev-cert-1' does not verify: certificate revoked" \
    "$T/dev1.pem" "$T/k1.key"
mef_booted "the files good again: dev-cert-2" "$T/dev2.pem" "$T/k2.key"
mef_stop

# --- a CRL that cannot be used at start: m2m-mef stops ----------------------
# (it would refuse every enrolee it covers; the same checks as on SIGHUP)
crl_conf "$T/test-ca-exp.crl"
start_fails "start, an expired CRL" \
    "m2mtls: the CRL of '/CN=test-ca' in $T/test-ca-exp.crl has expired: nextUpdate $(utc "$MEF_NOW_M1")"
crl_conf "$T/fake-ca.crl"
start_fails "start, a CRL of another CA named test-ca" \
    "m2mtls: the CRL of '/CN=test-ca' in $T/fake-ca.crl: its signature does not verify with the key of the CA '/CN=test-ca' of $T/test-ca.pem"
crl_conf "$T/crl.pem" chain

# --- SIGHUP while m2m-mef starts or stops ------------------------------------------
# Outside the event loop no handler of SIGHUP exists: before the fix its
# default action ended the MEF, which systemd takes for a clean exit (no
# Restart=on-failure). gdb stops m2m-mef as it opens its token, before
# the loop's handler exists, and resumes it with SIGHUP; then as it closes
# its registry at the end, after that handler is gone, and again. It must
# listen, reload on a SIGHUP in between, serve a bootstrap and exit 0.
if command -v gdb >/dev/null; then
	cat >"$T/hup.gdb" <<GDB
set breakpoint pending on
set pagination off
set print frame-arguments none
handle SIGHUP nostop noprint pass
handle SIGTERM nostop noprint pass
break mef_tok_open
run -c $T/mef.conf serve >$T/mef.out 2>>$T/mef.log </dev/null
info inferiors
delete
break mef_reg_close
signal SIGHUP
delete
signal SIGHUP
GDB
	: >"$T/mef.out"
	# (LeakSanitizer of an ASan build cannot run under ptrace: off here)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	    gdb -nx -batch -x "$T/hup.gdb" "$MEF" >"$T/gdb.out" 2>&1 </dev/null &
	gdb_pid=$!
	m2m_defer m2m_stop "$gdb_pid"
	MEF_PID=''
	PORT=''
	CPORT=''
	for ((i = 0; i < 300; i++)); do
		MEF_PID=$(sed -n 's/^\* *1 *process \([0-9]*\) .*/\1/p' \
		    "$T/gdb.out")
		CPORT=$(sed -n 's/^listening-cert 127.0.0.1 //p' "$T/mef.out")
		PORT=$(sed -n 's/^listening 127.0.0.1 //p' "$T/mef.out")
		[ -n "$MEF_PID" ] && [ -n "$PORT" ] && [ -n "$CPORT" ] && break
		kill -0 "$gdb_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$PORT" ] || [ -z "$CPORT" ] || [ -z "$MEF_PID" ]; then
		m2m_fail "SIGHUP while it starts: m2m-mef did not listen: $(cat "$T/gdb.out")"
	fi
	grep -Eq "Breakpoint 1(\.[0-9]+)?, mef_tok_open" "$T/gdb.out" ||
	    m2m_fail "gdb did not stop in mef_tok_open: $(cat "$T/gdb.out")"
	mef_booted "SIGHUP while it started: dev-cert-2" "$T/dev2.pem" \
	    "$T/k2.key"
	n=$(wc -l <"$T/mef.log")
	mef_hup
	mef_log_since "$n" "SIGHUP: certificate listener reloaded" ||
	    m2m_fail "under gdb: no reload line: $(tail -n 3 "$T/mef.log")"
	mef_refused "under gdb, after SIGHUP: dev-cert-1" \
	    "'/CN=dev-cert-1' does not verify: certificate revoked" \
	    "$T/dev1.pem" "$T/k1.key"
	kill -TERM "$MEF_PID"
	MEF_PID=
	rc=0
	wait "$gdb_pid" || rc=$?
	out=$(cat "$T/gdb.out")
	[ "$rc" -eq 0 ] || m2m_fail "gdb: status $rc: $out"
	grep -Eq "Breakpoint 2(\.[0-9]+)?, mef_reg_close" <<<"$out" ||
	    m2m_fail "gdb did not stop in mef_reg_close (an inlined copy is Breakpoint 2.N): $out"
	m2m_expect_contains "$out" "exited normally"
	! grep -q "SIGHUP" <<<"$out" || m2m_fail "m2m-mef died of SIGHUP: $out"
	ok "SIGHUP while m2m-mef starts (token open) or stops (registry close): ignored; it listened, served, reloaded and exited 0"
else
	echo "SKIP: SIGHUP while m2m-mef starts or stops: gdb not found (scripts/deps.txt)"
fi

# --- SIGHUP without [cert] ------------------------------------------------------
mef_conf 10
mef_start
n=$(wc -l <"$T/mef.log")
mef_hup
mef_log_since "$n" "SIGHUP: no certificate listener ([cert]): nothing to reload" ||
    m2m_fail "without [cert]: $(tail -n 3 "$T/mef.log")"
kill -0 "$MEF_PID" 2>/dev/null || m2m_fail "without [cert]: m2m-mef stopped"
ok "SIGHUP without [cert]: nothing to reload, still running"
mef_stop

! grep -q -i -e "$KPM1" -e "$PSK_GW1" "$T/mef.log" ||
    m2m_fail "a key appears in the MEF's log"
! grep -q -e "Sanitizer" -e "runtime error" "$T/mef.log" ||
    m2m_fail "a sanitizer report in the MEF's log: $(grep -A5 Sanitizer "$T/mef.log")"
ok "no key, no sanitizer report in the MEF's log"
