#!/usr/bin/env bash
# m2m-label: assoc
# m2m-assoc, the secure association, with a stand-in gateway m2mtokend
# (fake_mtd: the real flow IPC framing, FetchCredentials answered by
# importing a fixed Kpsa): the device's Kpsa is in its token; the gateway
# does not know the identity, its unknown-identity hook asks the "daemon",
# and the handshake completes with the Kpsa the daemon imported; a request
# and a response cross the channel, each MIC made in one token and checked
# in the other.  Then the refusals: the daemon refuses (no key stored,
# handshake fails), the daemon imports another value (handshake fails), an
# identity that is no KeId of the MEF (the daemon is not asked), E2E keys
# that differ (the request MIC does not verify), and a PIN file that others
# may read.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

m2m_setup "${1:?usage: test_assoc.sh hsm|tpm}"

ASSOC=$M2M_BUILD/demo/m2m-assoc
FAKE=$M2M_BUILD/tests/integration/fake_mtd
FACTORY=$M2M_BUILD/demo/m2m-factory
[ -x "$ASSOC" ] || m2m_fail "m2m-assoc not built"
[ -x "$FACTORY" ] || m2m_fail "m2m-factory not built"
[ -x "$FAKE" ] || m2m_fail "fake_mtd not built"

KEID=00112233445566778899aabbccddeeff@mef.example.com
KEID2=ffeeddccbbaa99887766554433221100@mef.example.com
SNI=gw.example.com
printf '1234\n' >"$M2M_TMP/pin"
chmod 600 "$M2M_TMP/pin"
printf 'kpsa-0123456789abcdef-0123456789' >"$M2M_TMP/kpsa"
printf 'another-kpsa-value-0123456789abc' >"$M2M_TMP/other"
SOCK=$M2M_TMP/mtd.sock

for id in "$KEID" "$KEID2" "not-a-keid@mef.example.com" "${KEID2^^}"; do
	"$FACTORY" --token dev --pin-file "$M2M_TMP/pin" --import kpsa \
	    --label "$id" --value-file "$M2M_TMP/kpsa" >/dev/null ||
	    m2m_fail "device import of $id"
done

wait_for()
{
	local i

	for ((i = 0; i < 100; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# run_case NAME ID FAKE-ARGS GATEWAY-ARGS DEVICE-ARGS: fake daemon (unless
# FAKE-ARGS is "none"), gateway, device; sets gw_rc, dev_rc and the logs.
run_case()
{
	local name=$1 id=$2 fake_args=$3 gw_args=$4 dev_args=$5 port fpid gpid

	port=$(m2m_free_port_pair)
	flog=$M2M_TMP/$name.fake.log glog=$M2M_TMP/$name.gw.log
	dlog=$M2M_TMP/$name.dev.log
	: >"$flog"
	fpid=
	if [ "$fake_args" != none ]; then
		# shellcheck disable=SC2086
		"$FAKE" serve --token gw --pin-file "$M2M_TMP/pin" \
		    --socket "$SOCK" $fake_args >"$flog" 2>&1 &
		fpid=$!
		m2m_defer m2m_stop "$fpid"
		wait_for "$flog" listening "$fpid" ||
		    { cat "$flog" >&2; m2m_fail "$name: fake_mtd"; }
	fi
	# shellcheck disable=SC2086
	"$ASSOC" gateway --port "$port" --sni "$SNI" --token gw \
	    --pin-file "$M2M_TMP/pin" --daemon "$SOCK" \
	    --mef-fqdn mef.example.com $gw_args >"$glog" 2>&1 &
	gpid=$!
	m2m_defer m2m_stop "$gpid"
	wait_for "$glog" listening "$gpid" ||
	    { cat "$glog" >&2; m2m_fail "$name: gateway did not start"; }
	dev_rc=0
	# shellcheck disable=SC2086
	"$ASSOC" device --port "$port" --sni "$SNI" --token dev \
	    --pin-file "$M2M_TMP/pin" --identity "$id" $dev_args \
	    >"$dlog" 2>&1 || dev_rc=$?
	gw_rc=0
	wait "$gpid" || gw_rc=$?
	if [ -n "$fpid" ]; then
		kill "$fpid" 2>/dev/null || true
		wait "$fpid" 2>/dev/null || true
	fi
	# under ASan a refused case exits non-zero anyway: look for reports
	if grep -l "Sanitizer" "$flog" "$glog" "$dlog" >&2; then
		show "$name"
		m2m_fail "$name: a sanitizer report"
	fi
}

show()
{
	printf -- '--- %s ---\n' "$@" >&2
	cat "$flog" "$glog" "$dlog" >&2
}

# 1. the association: the hook fetches, both MICs verify
FAKE_FIRST=$M2M_TMP/kpsa
"$FACTORY" --token gw --pin-file "$M2M_TMP/pin" >/dev/null ||
    m2m_fail "gateway token"
run_case ok "$KEID" "--value-file $FAKE_FIRST" "" ""
[ "$gw_rc" = 0 ] && [ "$dev_rc" = 0 ] || { show ok; m2m_fail "association failed"; }
m2m_expect_contains "$(cat "$flog")" "fetch $KEID"
m2m_expect_contains "$(cat "$glog")" "m2mtokend fetched Kpsa"
m2m_expect_contains "$(cat "$glog")" "request  MIC"
m2m_expect_contains "$(cat "$glog")" "verified with Ke2e_msg_auth"
m2m_expect_contains "$(cat "$dlog")" "response MIC"
m2m_expect_contains "$(cat "$dlog")" "verified with Ke2e_msg_auth"
cat "$glog" "$dlog"
echo "ok: $M2M_BACKEND: unknown KpsaId fetched through the daemon, handshake and both MICs"

# 2. again: the gateway knows the key now, the daemon is not asked
run_case again "$KEID" none "" ""
[ "$gw_rc" = 0 ] && [ "$dev_rc" = 0 ] || { show again; m2m_fail "second association failed"; }
if grep -q "asking m2mtokend" "$glog"; then
	show again; m2m_fail "the daemon was asked for a known key"
fi
echo "ok: $M2M_BACKEND: known KpsaId: no fetch"

# 3. the daemon refuses: the handshake fails, nothing stored
run_case refuse "$KEID2" "--value-file $M2M_TMP/kpsa --refuse io.m2mtoken.MefRefused" "" ""
[ "$gw_rc" != 0 ] && [ "$dev_rc" != 0 ] || { show refuse; m2m_fail "a refused fetch let the handshake through"; }
m2m_expect_contains "$(cat "$glog")" "refused: io.m2mtoken.MefRefused"
echo "ok: $M2M_BACKEND: daemon refuses: handshake refused"

# 3b. the same unknown identity again at once: the gateway does not ask
#     the daemon a second time (one MEF request per 10 s, not per attempt)
port=$(m2m_free_port_pair)
flog=$M2M_TMP/again.fake.log glog=$M2M_TMP/again.gw.log
dlog=$M2M_TMP/again.dev.log
"$FAKE" serve --token gw --pin-file "$M2M_TMP/pin" --socket "$SOCK" \
    --value-file "$M2M_TMP/kpsa" --refuse io.m2mtoken.MefRefused --count 2 \
    >"$flog" 2>&1 &
fpid=$!
m2m_defer m2m_stop "$fpid"
wait_for "$flog" listening "$fpid" || m2m_fail "fake_mtd (3b)"
"$ASSOC" gateway --port "$port" --sni "$SNI" --token gw \
    --pin-file "$M2M_TMP/pin" --daemon "$SOCK" --mef-fqdn mef.example.com \
    --count 2 >"$glog" 2>&1 &
gpid=$!
m2m_defer m2m_stop "$gpid"
wait_for "$glog" listening "$gpid" || m2m_fail "gateway (3b)"
for i in 1 2; do
	"$ASSOC" device --port "$port" --sni "$SNI" --token dev \
	    --pin-file "$M2M_TMP/pin" --identity "$KEID2" >>"$dlog" 2>&1 &&
	    m2m_fail "3b: handshake $i got through"
done
wait "$gpid" && m2m_fail "3b: the gateway reported success"
m2m_stop "$fpid"
[ "$(grep -c "^fetch $KEID2" "$flog")" = 1 ] ||
    { show 3b; m2m_fail "3b: the daemon was not asked exactly once"; }
m2m_expect_contains "$(cat "$glog")" "refused without asking again"
echo "ok: $M2M_BACKEND: a refused identity is not asked again at once"

# 4. the daemon imports another value: the handshake fails
run_case wrong "$KEID2" "--value-file $M2M_TMP/other" "" ""
[ "$gw_rc" != 0 ] && [ "$dev_rc" != 0 ] || { show wrong; m2m_fail "a wrong Kpsa let the handshake through"; }
m2m_expect_contains "$(cat "$flog")" "fetch $KEID2"
echo "ok: $M2M_BACKEND: another Kpsa imported: handshake refused"

# 5. an identity that is no KeId of this MEF: the daemon is not asked
run_case shape "not-a-keid@mef.example.com" "--value-file $M2M_TMP/kpsa" "" ""
[ "$gw_rc" != 0 ] && [ "$dev_rc" != 0 ] || { show shape; m2m_fail "a non-KeId identity got through"; }
m2m_expect_contains "$(cat "$glog")" "is not a KeId of mef.example.com"
if grep -q fetch "$flog"; then show shape; m2m_fail "the daemon was asked"; fi
echo "ok: $M2M_BACKEND: identity not a KeId: daemon not asked"
# 5b. a KeId in upper case (the same KeId to the MEF, which folds case):
# not a KeId as the MEF makes them, so the daemon is not asked to fetch it
# again under another label (found in review)
run_case upper "${KEID2^^}" "--value-file $M2M_TMP/kpsa" "" ""
[ "$gw_rc" != 0 ] && [ "$dev_rc" != 0 ] || { show upper; m2m_fail "an upper-case KeId got through"; }
m2m_expect_contains "$(cat "$glog")" "is not a KeId of mef.example.com"
if grep -q fetch "$flog"; then show upper; m2m_fail "the daemon was asked"; fi
echo "ok: $M2M_BACKEND: a KeId in upper case: daemon not asked"

# 6. E2E keys that differ (another salt on the device): the request MIC
#    made on the device does not verify on the gateway
run_case mic "$KEID" none "" "--e2e-salt 0102030405060708"
[ "$gw_rc" != 0 ] && [ "$dev_rc" != 0 ] || { show mic; m2m_fail "a MIC under another key verified"; }
m2m_expect_contains "$(cat "$glog")" "does NOT verify (CKR_SIGNATURE_INVALID)"
echo "ok: $M2M_BACKEND: request MIC under another E2E key: refused"

# 7. a PIN file others may read is refused before anything runs
chmod 644 "$M2M_TMP/pin"
out=$("$ASSOC" device --port 1 --sni "$SNI" --token dev \
    --pin-file "$M2M_TMP/pin" --identity "$KEID" 2>&1) &&
    m2m_fail "a world-readable PIN file was used"
m2m_expect_contains "$out" "no access for group or others"
echo "ok: $M2M_BACKEND: PIN file readable by others: refused"
