#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's PSK listener against peers without credentials
# (docs/security-model.md, m2m-mef):
#   - the TLS alert does not tell which PSK identities exist: an unknown
#     identity fails as a known identity with a wrong key does (bad record
#     mac, RFC 4279 section 2), and the right key still works;
#   - refused handshakes do not flood the log: 1000 of them with an
#     unknown identity add a few lines (one a second per reason, m2m-mef's
#     and libm2mtls's), the next one after a quiet second is logged again
#     and counts the lines not logged; successful handshakes are all
#     logged.
#   bash test_mef_psk.sh hsm
. "$M2M_SRC/tests/integration/lib.sh"
. "$M2M_SRC/tests/mef/mef_lib.sh"

m2m_setup "${1:?usage: test_mef_psk.sh hsm}"

T=$M2M_TMP
BENCH=$M2M_BUILD/daemon/mef/bench_mef
WRONG=00112233445566778899aabbccddeeff

[ -x "$BENCH" ] || m2m_fail "no $BENCH (built with m2m-mef)"

mef_token
mef_conf 5
printf '%s\n' "$KPM1" >"$T/kpm1.hex"
mef enrolee add --kpm-id kpm-dev1 --enrolee-id /in-cse.example.com/CAE01 \
    --target "$GW1" --lifetime 3600 --kpm-file "$T/kpm1.hex" >/dev/null ||
    m2m_fail "enrolee add failed"
mef_target "$GW1" "$PSK_GW1"
mef_start

# hs ID PSKHEX: one handshake by s_client (no request); its whole output.
hs()
{
	timeout 10 openssl s_client -tls1_2 -connect "127.0.0.1:$PORT" \
	    -servername "$FQDN" -psk_identity "$1" -psk "$2" \
	    -cipher PSK-AES128-CBC-SHA256 </dev/null 2>&1 || true
}

# alert_of OUT: the alert s_client received ("...:sslv3 alert bad record
# mac:..."): "bad record mac".
alert_of()
{
	grep -o 'alert [a-z ]*:' <<<"$1" | head -n 1 | sed 's/^alert //; s/:$//'
}

# lines: the MEF log's line count.
lines() { wc -l <"$T/mef.log"; }

# --- the alert does not tell which identities exist ---------------------------
a_enrolee=$(alert_of "$(hs kpm-dev1 "$WRONG")")
a_target=$(alert_of "$(hs "$GW1" "$WRONG")")
a_unknown=$(alert_of "$(hs kpm-nobody "$WRONG")")
a_unknown2=$(alert_of "$(hs "$(printf 'x%.0s' $(seq 1 100))" "$WRONG")")
echo "alerts: enrolee, wrong key: '$a_enrolee'; target, wrong key:" \
    "'$a_target'; unknown: '$a_unknown', '$a_unknown2'"
[ "$a_enrolee" = "bad record mac" ] && [ "$a_target" = "$a_enrolee" ] ||
    m2m_fail "a known identity with a wrong key: '$a_enrolee' / '$a_target'"
[ "$a_unknown" = "$a_enrolee" ] && [ "$a_unknown2" = "$a_enrolee" ] ||
    m2m_fail "an unknown identity gets '$a_unknown' / '$a_unknown2'," \
    "a wrong key '$a_enrolee': the alert tells which identities exist"
out=$(hs kpm-dev1 "$KPM1")
m2m_expect_contains "$out" "Cipher is PSK-AES128-CBC-SHA256"
out=$(hs "$GW1" "$PSK_GW1")
m2m_expect_contains "$out" "Cipher is PSK-AES128-CBC-SHA256"
# the MEF still says why, in its log only
mef_log_since 0 'event=handshake who="kpm-nobody" ' ||
    m2m_fail "no handshake line for the unknown identity"
grep 'event=handshake who="kpm-nobody" ' "$T/mef.log" | grep -q \
    'outcome=refused reason="unknown PSK identity"' ||
    m2m_fail "the unknown identity is not named so in the MEF's log"
grep -q "unknown PSK identity 'kpm-nobody'" "$T/mef.log" ||
    m2m_fail "no libm2mtls line for the unknown identity"
echo "ok: unknown identity and wrong key: the same alert ($a_enrolee);" \
    "the right keys work; the MEF's log names the unknown identity"

# --- 1000 refused handshakes: a few lines ------------------------------------
sleep 1.1	# the lines above are over a second old
n0=$(lines)
t0=$(date +%s%N)
total=0
for ((i = 0; i < 30 && total < 1000; i++)); do
	out=$("$BENCH" handshake "$PORT" "$FQDN" nosuch-id "$KPM1" "$GW1" 2 \
	    0.25) || true
	e=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$out")
	[ -n "$e" ] || m2m_fail "bench_mef: $out"
	total=$((total + e))
done
t1=$(date +%s%N)
secs=$(((t1 - t0 + 999999999) / 1000000000))
n1=$(lines)
grown=$((n1 - n0))
echo "$total refused handshakes in ${secs} s: the log grew by $grown lines"
[ "$total" -ge 1000 ] || m2m_fail "only $total refused handshakes"
# at most one line a second for each of the two: m2m-mef's and libm2mtls's
[ "$grown" -le $((2 * (secs + 1))) ] || {
	tail -n 12 "$T/mef.log" >&2
	m2m_fail "$total refused handshakes wrote $grown lines in $secs s"; }
sleep 1.1
out=$(hs nosuch-id "$KPM1")
mef_log_since "$n1" 'who="nosuch-id" ' ||
    m2m_fail "a refused handshake after a quiet second is not logged"
tail -n "+$((n1 + 1))" "$T/mef.log" | grep 'event=handshake who="nosuch-id"' |
    grep -q 'more like it not logged' ||
    m2m_fail "the MEF's line after the flood does not count the others"
tail -n "+$((n1 + 1))" "$T/mef.log" | grep "unknown PSK identity 'nosuch-id'" |
    grep -q 'more like it not logged' ||
    m2m_fail "libm2mtls's line after the flood does not count the others"
tail -n "+$((n1 + 1))" "$T/mef.log"
echo "ok: $total refused handshakes: $grown lines in ${secs} s; the next" \
    "after a quiet second logged, with the count of those not logged"

# --- successful handshakes are all logged --------------------------------------
n0=$(grep -c 'event=handshake who="kpm-dev1" .*outcome=ok' "$T/mef.log" || true)
hs kpm-dev1 "$KPM1" >/dev/null
hs kpm-dev1 "$KPM1" >/dev/null
hs kpm-dev1 "$KPM1" >/dev/null
for ((i = 0; i < 50; i++)); do
	n1=$(grep -c 'event=handshake who="kpm-dev1" .*outcome=ok' \
	    "$T/mef.log" || true)
	[ "$n1" -ge $((n0 + 3)) ] && break
	sleep 0.1
done
[ "$n1" -eq $((n0 + 3)) ] ||
    m2m_fail "3 handshakes in a row: $((n1 - n0)) ok lines"
echo "ok: successful handshakes: a line each"
