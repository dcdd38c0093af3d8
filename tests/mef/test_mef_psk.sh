#!/usr/bin/env bash
# m2m-label: mef
# m2m-mef's PSK listener against peers without credentials
# (docs/security-model.md, m2m-mef):
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
KPM1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
PSK_GW1=a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf
GW1=gw1.example.com

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

# lines: the MEF log's line count.
lines() { wc -l <"$T/mef.log"; }

# --- 1000 refused handshakes: a few lines ------------------------------------
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
